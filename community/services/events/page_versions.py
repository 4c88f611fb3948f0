"""A version number per event page, bumped whenever its seats change, in any process.

The public event page is rendered once per version of the event (its row's `updated_at`,
which every edit moves) and of its seats (this counter), so a seat taken or freed anywhere, by
a web process or a worker, shows on the next view. The counter lives in Redis beside the
event's other keys (same hash slot).
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from uuid import UUID

from redis.asyncio import Redis

from community import redis_keys
from community.config import Settings
from community.services.seats.hooks import (
    InventoryHooks,
    InventoryListener,
    Subscription,
    inventory_changed,
)
from community.services.seats.inventory import Counts, Inventory

# Longer than any page stays cached; a page whose counter expired renders once more.
TTL_S = 7 * 24 * 3600
_installed: Subscription[InventoryListener] = Subscription()


def _key(prefix: str, event_id: UUID | str) -> str:
    return redis_keys.page_version(prefix, event_id)


async def seats_version(redis: Redis, settings: Settings, event_id: UUID) -> Hashable:
    """What the page shows of the seats, as a key: the Traffic Cop's counts (whatever changed
    them) and the counter (a cancellation and a registration leave the counts as they were,
    not the names of who is going)."""
    counts, bumped = await asyncio.gather(
        Inventory(redis, settings.redis_prefix).counts(event_id),
        redis.get(_key(settings.redis_prefix, event_id)),
    )
    if not isinstance(counts, Counts):
        return (None, int(bumped or 0))
    seats = (counts.capacity, counts.reserve, counts.mode, counts.open, counts.native,
             counts.external, counts.held, counts.over_capacity, counts.waiting, counts.free,
             tuple(sorted(counts.per_channel.items())))  # fmt: skip
    return (seats, int(bumped or 0))


async def bump(redis: Redis, prefix: str, event_id: UUID | str) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        pipe.incr(_key(prefix, event_id))
        pipe.expire(_key(prefix, event_id), TTL_S)
        await pipe.execute()


def install_page_versions(
    redis: Redis, prefix: str, hooks: InventoryHooks = inventory_changed
) -> InventoryListener:
    """Bump an event's page version on every seat change in this process."""

    async def page_seats_changed(event_id: UUID, channel: str) -> None:
        await bump(redis, prefix, event_id)

    return _installed.install(hooks, page_seats_changed)


def uninstall_page_versions(
    listener: InventoryListener, hooks: InventoryHooks = inventory_changed
) -> None:
    _installed.uninstall(hooks, listener)
