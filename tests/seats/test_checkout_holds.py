"""Holds for paid tickets in the Traffic Cop: taken like seats, kept while paid for, offered
to a paid event's waitlist in turn, and remembered by the ledger when Redis forgets."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import replace
from typing import Any

from community.services.seats.inventory import (
    Counts,
    Full,
    Inventory,
    InventorySettings,
    JoinedWaitlist,
    Mismatch,
    Missing,
    PaidOnly,
    PlaceState,
    Seat,
    Snapshot,
    SnapshotEntry,
    SoldOut,
)


async def counts_of(inventory: Inventory, event_id: Any) -> Counts:
    counts = await inventory.counts(event_id)
    assert isinstance(counts, Counts)
    return counts


async def test_a_hold_counts_as_taken_and_obeys_the_native_reserve(
    inventory: Inventory, empty_event: Any
) -> None:
    event_id = await empty_event(10, 4)
    # The platforms sold the six shared seats: the native page has its reserve of four left.
    for i in range(6):
        assert isinstance(await inventory.reserve(event_id, [f"p{i}"], "meetup"), Seat)
    held = [await inventory.hold(event_id, [f"buyer{i}"], ttl_s=60, or_wait=True) for i in range(5)]
    assert [type(h).__name__ for h in held] == ["Seat"] * 4 + ["SoldOut"]
    assert all(h.state == PlaceState.HELD for h in held[:4])  # type: ignore[union-attr]
    counts = await counts_of(inventory, event_id)
    assert (counts.native, counts.held, counts.native_left) == (4, 4, 0)


async def test_a_full_paid_event_in_waitlist_mode_queues_instead_of_holding(
    inventory: Inventory, empty_event: Any
) -> None:
    event_id = await empty_event(1, 0, "waitlist")
    assert isinstance(await inventory.hold(event_id, ["a"], ttl_s=60, or_wait=True), Seat)
    assert isinstance(await inventory.hold(event_id, ["b"], ttl_s=60, or_wait=True), JoinedWaitlist)
    # A plain hold never queues: the person is told it is sold out.
    assert isinstance(await inventory.hold(event_id, ["c"], ttl_s=60), SoldOut)
    # Once someone waits, a newcomer queues behind them even when a seat comes back.
    await inventory.release(event_id, ["a"])
    assert isinstance(await inventory.hold(event_id, ["d"], ttl_s=60, or_wait=True), JoinedWaitlist)


async def test_a_paid_hold_is_kept_longer_only_while_it_lasts(
    inventory: Inventory, empty_event: Any
) -> None:
    event_id = await empty_event(2, 0)
    seat = await inventory.hold(event_id, ["a"], ttl_s=0.3)
    assert isinstance(seat, Seat)
    kept = await inventory.extend_hold(event_id, ["a"], seat_no=seat.seat_no, ttl_s=60)
    assert isinstance(kept, Seat) and kept.expires_at is not None
    assert kept.expires_at.timestamp() > time.time() + 50
    await asyncio.sleep(0.4)
    assert (await counts_of(inventory, event_id)).held == 1
    wrong = await inventory.extend_hold(event_id, ["a"], seat_no=seat.seat_no + 1, ttl_s=60)
    assert isinstance(wrong, Mismatch)

    other = await inventory.hold(event_id, ["b"], ttl_s=0.1)
    assert isinstance(other, Seat)
    await asyncio.sleep(0.2)
    # Too late: the seat went back by itself.
    late = await inventory.extend_hold(event_id, ["b"], seat_no=other.seat_no, ttl_s=60)
    assert isinstance(late, Missing)


async def test_a_freed_seat_is_offered_to_the_waitlist_as_a_hold(
    inventory: Inventory, empty_event: Any
) -> None:
    event_id = await empty_event(1, 0, "waitlist")
    assert isinstance(await inventory.reserve(event_id, ["a"]), Seat)
    assert isinstance(await inventory.reserve(event_id, ["b"]), JoinedWaitlist)
    assert isinstance(await inventory.offer(event_id, ["b"], ttl_s=60), Full)
    await inventory.release(event_id, ["a"])
    offered = await inventory.offer(event_id, ["b"], ttl_s=0.2)
    assert isinstance(offered, Seat) and offered.state == PlaceState.HELD
    counts = await counts_of(inventory, event_id)
    assert (counts.waiting, counts.held, counts.native_left) == (0, 1, 0)
    assert isinstance(await inventory.offer(event_id, ["b"], ttl_s=60), Mismatch)
    # Not paid in time: the seat comes back and the place is gone.
    await asyncio.sleep(0.3)
    counts = await counts_of(inventory, event_id)
    assert (counts.held, counts.native_left) == (0, 1)
    assert isinstance(await inventory.offer(event_id, ["b"], ttl_s=60), Missing)


async def test_holds_come_back_from_the_ledger_when_redis_forgot_them(
    inventory: Inventory,
) -> None:
    event_id = uuid.uuid4()
    now = int(time.time() * 1000)
    since = now - 1000

    def held(seat: int, key: str, until: int) -> SnapshotEntry:
        return SnapshotEntry(PlaceState.HELD, "native", seat, since, (key,), until)

    snapshot = Snapshot(
        InventorySettings(4, 0),
        [
            held(1, "paying", now + 60_000),
            held(2, "lapsed", now - 1),  # ran out: not brought back
            held(3, "clash", now + 60_000),  # seat 3 is someone's confirmed seat
            SnapshotEntry(PlaceState.CONFIRMED, "native", 3, since, ("owner",)),
        ],
    )
    assert await inventory.load(event_id, snapshot)
    counts = await counts_of(inventory, event_id)
    assert (counts.native, counts.held, counts.free) == (2, 1, 2)
    state = await inventory.dump(event_id)
    places = {p.keys[0]: p for p in state.places}  # type: ignore[union-attr]
    assert places["paying"].state == PlaceState.HELD
    assert places["paying"].expires_ms == now + 60_000
    assert set(places) == {"paying", "owner"}
    # The person paying still holds it: confirming works as if Redis never forgot.
    confirmed = await inventory.confirm_hold(event_id, ["paying"])
    assert isinstance(confirmed, Seat) and confirmed.seat_no == 1


async def test_a_paid_events_native_seat_is_bought_never_taken(inventory: Inventory) -> None:
    event_id = uuid.uuid4()
    paid = InventorySettings(3, 1, "waitlist", paid=True)
    assert await inventory.load(event_id, Snapshot(paid, []))
    # Registering for free is refused, whether a seat is free or the waitlist would take it.
    assert isinstance(await inventory.reserve(event_id, ["free"]), PaidOnly)
    # The checkout's hold is how a native seat is taken; a platform sells its own tickets.
    assert isinstance(await inventory.hold(event_id, ["buyer"], ttl_s=60, or_wait=True), Seat)
    assert isinstance(await inventory.reserve(event_id, ["p1"], "meetup"), Seat)
    # The organiser makes it free again: registering works at once.
    await inventory.configure(event_id, replace(paid, paid=False))
    assert isinstance(await inventory.reserve(event_id, ["free"]), Seat)
