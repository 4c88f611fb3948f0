"""Loading an event from a ledger snapshot: first use under a lock, rebuilds, carry-over."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from community.services.seats.inventory import (
    Counts,
    Inventory,
    InventorySettings,
    InventoryState,
    NotLoaded,
    PlaceState,
    Seat,
    Snapshot,
    SnapshotEntry,
)


def entry(seat: int, key: str, channel: str = "native", state: str = "c") -> SnapshotEntry:
    return SnapshotEntry(PlaceState(state), channel, seat, 1_700_000_000_000, (key,))


async def state_of(inventory: Inventory, event_id: Any) -> InventoryState:
    state = await inventory.dump(event_id)
    assert isinstance(state, InventoryState)
    return state


async def test_snapshot_is_loaded_exactly(inventory: Inventory) -> None:
    event_id = uuid.uuid4()
    snapshot = Snapshot(
        InventorySettings(6, 2),
        [
            entry(2, "a"),
            entry(5, "b", "meetup"),
            entry(0, "c", state="w"),
            entry(0, "d", "luma", state="o"),
        ],
    )
    assert await inventory.load(event_id, snapshot)
    counts = await inventory.counts(event_id)
    assert isinstance(counts, Counts)
    assert (counts.native, counts.external, counts.waiting, counts.over_capacity) == (1, 1, 1, 1)
    assert counts.free == 4
    seats = [await inventory.reserve(event_id, [f"n{i}"]) for i in range(5)]
    # Four seats are free, but the over-capacity place claims one of them: three are offered.
    assert [s.seat_no for s in seats if isinstance(s, Seat)] == [1, 3, 4]
    already = await inventory.reserve(event_id, ["b"])
    assert getattr(already, "channel", None) == "meetup"


async def test_unloaded_event_answers_not_loaded_until_loaded(inventory: Inventory) -> None:
    event_id = uuid.uuid4()
    assert isinstance(await inventory.reserve(event_id, ["a"]), NotLoaded)
    await inventory.load(event_id, Snapshot(InventorySettings(1, 0), []))
    assert isinstance(await inventory.reserve(event_id, ["a"]), Seat)
    await inventory.forget(event_id)
    assert isinstance(await inventory.counts(event_id), NotLoaded)
    assert not await inventory.is_loaded(event_id)


async def test_concurrent_first_use_reads_the_ledger_once(inventory: Inventory) -> None:
    event_id = uuid.uuid4()
    reads = 0

    async def source() -> Snapshot:
        nonlocal reads
        reads += 1
        await asyncio.sleep(0.05)  # a slow ledger widens the window for a double load
        return Snapshot(InventorySettings(10, 0), [entry(1, "a")])

    loaded = await asyncio.gather(*(inventory.ensure_loaded(event_id, source) for _ in range(25)))
    assert reads == 1
    assert loaded.count(True) == 1
    assert (await state_of(inventory, event_id)).counts.taken == 1
    assert not await inventory.redis.exists(inventory.keys(event_id)[-1]), "lock left behind"


async def test_a_loader_that_lost_its_lock_cannot_overwrite(inventory: Inventory) -> None:
    event_id = uuid.uuid4()
    await inventory.load(event_id, Snapshot(InventorySettings(3, 0), [entry(1, "a")]))
    async with inventory.locked(event_id):
        stale = Snapshot(InventorySettings(3, 0), [])
        assert not await inventory.load(event_id, stale, lock_token="someone-else")
    assert (await state_of(inventory, event_id)).counts.taken == 1


async def test_rebuild_skips_when_someone_rebuilt_since(inventory: Inventory) -> None:
    event_id = uuid.uuid4()
    await inventory.load(event_id, Snapshot(InventorySettings(3, 0), []))
    seen = await inventory.generation(event_id)
    assert seen

    async def source() -> Snapshot:
        return Snapshot(InventorySettings(3, 0), [entry(1, "x")])

    assert await inventory.rebuild(event_id, source, unless_generation=seen)
    assert await inventory.generation(event_id) != seen
    assert not await inventory.rebuild(event_id, source, unless_generation=seen)
    # Without a generation to compare, a rebuild always happens.
    assert await inventory.rebuild(event_id, source)


async def test_rebuild_carries_open_holds_and_recent_places_over(inventory: Inventory) -> None:
    event_id = uuid.uuid4()
    await inventory.load(event_id, Snapshot(InventorySettings(5, 0), []))
    await inventory.reserve(event_id, ["ledger"])  # seat 1: committed, so in the snapshot
    await inventory.reserve(event_id, ["in-flight"])  # seat 2: not in the ledger yet
    await inventory.hold(event_id, ["holder"], ttl_s=60)  # seat 3
    await inventory.reserve(event_id, ["clash"])  # seat 4, which the ledger gives to another

    snapshot = Snapshot(InventorySettings(5, 0), [entry(1, "ledger"), entry(4, "other")])
    assert await inventory.load(event_id, snapshot, keep_recent_ms=5_000)
    state = await state_of(inventory, event_id)
    assert {p.keys[0]: (p.seat_no, p.state) for p in state.places} == {
        "ledger": (1, PlaceState.CONFIRMED),
        "in-flight": (2, PlaceState.CONFIRMED),
        "holder": (3, PlaceState.HELD),
        "other": (4, PlaceState.CONFIRMED),
    }
    assert (state.counts.taken, state.counts.held, state.counts.free) == (4, 1, 1)

    # An exact reload (reconcile after the dust settles) keeps only the ledger.
    assert await inventory.load(event_id, snapshot, keep_recent_ms=-1)
    state = await state_of(inventory, event_id)
    assert sorted(p.keys[0] for p in state.places) == ["ledger", "other"]
    assert state.counts.free == 3


async def test_scripts_are_reloaded_when_redis_forgot_them(inventory: Inventory) -> None:
    event_id = uuid.uuid4()
    await inventory.load(event_id, Snapshot(InventorySettings(2, 0), []))
    script = inventory._script("reserve")
    script.sha = "0" * 40  # what a restarted server would answer: NOSCRIPT
    assert isinstance(await inventory.reserve(event_id, ["a"]), Seat)
    assert script.sha != "0" * 40


async def test_all_keys_of_an_event_share_one_hash_slot(inventory: Inventory) -> None:
    from redis.crc import key_slot

    keys = inventory.keys(uuid.uuid4())
    assert len({key_slot(k.encode()) for k in keys}) == 1
    assert all(k.startswith(inventory.prefix) for k in keys)


async def test_processes_read_the_ledger_once_and_each_asks_redis_once(
    inventory: Inventory, settings: Any, monkeypatch: Any
) -> None:
    """Several processes (here, clients of their own) with many callers each: one reads the
    ledger; inside a process, the callers share one attempt at the lock."""
    from redis.asyncio import Redis

    event_id = uuid.uuid4()
    reads = 0
    lock_attempts = 0

    async def source() -> Snapshot:
        nonlocal reads
        reads += 1
        await asyncio.sleep(0.05)
        return Snapshot(InventorySettings(10, 0), [entry(1, "a")])

    try_lock = Inventory._try_lock

    async def counted(self: Inventory, event: Any) -> Any:
        nonlocal lock_attempts
        lock_attempts += 1
        return await try_lock(self, event)

    monkeypatch.setattr(Inventory, "_try_lock", counted)
    clients = [Redis.from_url(settings.redis_url) for _ in range(3)]
    try:
        processes = [Inventory(client, inventory.prefix) for client in clients]
        loaded = await asyncio.gather(
            *(p.ensure_loaded(event_id, source) for p in processes for _ in range(20))
        )
    finally:
        for client in clients:
            await client.aclose()
    assert reads == 1 and loaded.count(True) == 1
    # One attempt per process, and a few more for those that waited for the first to finish.
    assert lock_attempts < 3 * 5
    assert (await state_of(inventory, event_id)).counts.taken == 1
