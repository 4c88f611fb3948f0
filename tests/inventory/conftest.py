"""Fixtures for the Traffic Cop tests: an inventory on the test's own Redis prefix."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import pytest
from redis.asyncio import Redis

from community.config import Settings
from community.models.enums import SoldOutMode
from community.services.inventory import Inventory, InventorySettings, Snapshot


@pytest.fixture
def inventory(redis: Redis, settings: Settings) -> Inventory:
    return Inventory(redis, settings.redis_prefix)


EmptyEvent = Callable[..., Awaitable[uuid.UUID]]


@pytest.fixture
def empty_event(inventory: Inventory) -> EmptyEvent:
    """Make a fresh event id whose state is loaded from an empty ledger snapshot."""

    async def make(
        capacity: int,
        reserve: int,
        mode: SoldOutMode | str = SoldOutMode.SOLD_OUT,
        *,
        open_: bool = True,
    ) -> uuid.UUID:
        event_id = uuid.uuid4()
        settings = InventorySettings(capacity, reserve, SoldOutMode(mode), open=open_)
        assert await inventory.load(event_id, Snapshot(settings, []))
        return event_id

    return make
