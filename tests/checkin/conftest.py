"""A live server on loopback and Debian's Chromium for the door page's browser tests."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import Browser, Page, Playwright, async_playwright

from community.config import Settings
from community.models import User
from tests.conftest import TEST_PASSWORD, watch_csp

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
HAVE_CHROMIUM = CHROMIUM.exists()
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


async def launch_with_camera(playwright: Playwright, video: Path) -> Browser:
    """Headless Chromium whose camera plays `video` and needs no permission prompt."""
    return await playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={video}",
        ],
    )


async def sign_in(page: Page, base_url: str, user: User, next_path: str) -> None:
    await watch_csp(page)
    await page.goto(f"{base_url}/login?next={next_path}")
    await page.fill("#email", user.email)
    await page.fill("#password", TEST_PASSWORD)
    async with page.expect_navigation():
        await page.click("button[type=submit]")
