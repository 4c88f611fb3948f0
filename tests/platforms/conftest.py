"""The ``pair`` fixture: one stand-in and its client, once per platform."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from platform_helpers import PLATFORMS, Pair, new_client, new_sandbox

from community.sandbox.eventbrite import EventbriteSandbox


@pytest.fixture(params=PLATFORMS)
async def pair(request: pytest.FixtureRequest) -> AsyncIterator[Pair]:
    """One stand-in and its client; tests using it run once per platform."""
    sandbox = new_sandbox(request.param)
    if isinstance(sandbox, EventbriteSandbox):
        sandbox.page_size = 2  # Eventbrite decides its page size; keep pages small here
        client = new_client(sandbox)
    else:
        client = new_client(sandbox, page_size=2)
    yield Pair(sandbox, client)
    await client.aclose()
    await sandbox.aclose()
