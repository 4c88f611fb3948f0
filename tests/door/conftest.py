"""A live server on loopback and Debian's Chromium for the door page's browser tests."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import uvicorn
from playwright.async_api import Playwright, async_playwright

from community.config import Settings
from tests.helpers.door import (
    CHROMIUM,
    HAVE_CHROMIUM,
    free_port,
)


@pytest.fixture
def live_server(settings: Settings) -> Iterator[str]:
    """The whole app served by uvicorn in a thread of its own (its own event loop)."""
    from community.app import create_app

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
    )
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the live server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
async def playwright() -> AsyncIterator[Playwright]:
    if not HAVE_CHROMIUM:
        pytest.skip(f"Chromium is not installed at {CHROMIUM}")
    async with async_playwright() as driver:
        yield driver
