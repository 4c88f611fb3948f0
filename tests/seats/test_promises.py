"""Strict allocation in the Traffic Cop: seats promised to platform listings are theirs to sell
before we hear of them, so natives and other listings never take them."""

from __future__ import annotations

from typing import Any

from inventory_outcomes import describe

from community.services.seats.allocation import SETTLE_NOW
from community.services.seats.inventory import (
    Counts,
    Inventory,
    InventorySettings,
    Promise,
    Snapshot,
)


async def counts_of(inventory: Inventory, event_id: Any) -> Counts:
    counts = await inventory.counts(event_id)
    assert isinstance(counts, Counts)
    return counts


async def promise(inventory: Inventory, event_id: Any, channel: str, wanted: int) -> int:
    result = await inventory.promise(event_id, channel, wanted)
    assert isinstance(result, Promise)
    return result.seats


async def test_promises_never_exceed_the_shared_pool(
    inventory: Inventory, empty_event: Any
) -> None:
    event_id = await empty_event(10, 4)  # 6 shared seats
    assert await promise(inventory, event_id, "meetup", 3) == 3
    assert await promise(inventory, event_id, "eventbrite", 3) == 3
    assert await promise(inventory, event_id, "luma", 3) == 0  # nothing unpromised is left
    counts = await counts_of(inventory, event_id)
    assert counts.promised == {"meetup": 3, "eventbrite": 3, "luma": 0}
    assert (counts.unpromised_left, counts.offered_natively) == (0, 4)


async def test_natives_keep_their_reserve_but_never_take_a_promised_seat(
    inventory: Inventory, empty_event: Any
) -> None:
    event_id = await empty_event(6, 2)  # 4 shared seats
    assert await promise(inventory, event_id, "meetup", 3) == 3
    answers = [describe(await inventory.reserve(event_id, [f"n{i}"])) for i in range(4)]
    # Two reserved seats and the one unpromised shared seat; the fourth would be Meetup's.
    assert answers == ["seat 1", "seat 2", "seat 3", "sold out"]
    # Another platform cannot take Meetup's seats either; Meetup itself can.
    assert describe(await inventory.reserve(event_id, ["e1"], "eventbrite")) == "sold out"
    assert describe(await inventory.reserve(event_id, ["m1"], "meetup")) == "seat 4"
    counts = await counts_of(inventory, event_id)
    assert counts.promised["meetup"] == 2  # one promised seat was used by a Meetup sale


async def test_a_promise_shrinks_only_once_the_platform_confirmed_it(
    inventory: Inventory, empty_event: Any
) -> None:
    event_id = await empty_event(10, 0)
    assert await promise(inventory, event_id, "meetup", 6) == 6
    # Meetup should come down to 2: until the platform confirms, its 6 stay promised.
    before = await inventory.promise(event_id, "meetup", 2)
    assert isinstance(before, Promise) and before.seats == 2
    assert (await counts_of(inventory, event_id)).promised["meetup"] == 6
    assert await promise(inventory, event_id, "luma", 5) == 4
    # One Meetup sale is recorded meanwhile, then the push of 2 is confirmed: 1 is unsold.
    assert describe(await inventory.admit_past_mirror(event_id, ["m1"], "meetup")) == "seat 1"
    after = await inventory.promise(event_id, "meetup", 2, mark=before.mark)
    assert isinstance(after, Promise) and after.seats == 1
    assert await promise(inventory, event_id, "luma", 5) == 5
    counts = await counts_of(inventory, event_id)
    assert counts.promised == {"meetup": 1, "eventbrite": 0, "luma": 5}
    assert counts.unpromised_left == 3


async def test_promises_survive_a_rebuild(inventory: Inventory, empty_event: Any) -> None:
    event_id = await empty_event(10, 0)
    assert await promise(inventory, event_id, "luma", 4) == 4
    settings = InventorySettings(10, 0)
    # A reconcile keeps Redis' newer promise; a Redis that forgot takes the ledger's.
    assert await inventory.load(event_id, Snapshot(settings, [], {"luma": 1}), keep_recent_ms=0)
    assert (await counts_of(inventory, event_id)).promised["luma"] == 4
    await inventory.forget(event_id)
    assert await inventory.load(event_id, Snapshot(settings, [], {"luma": 1}))
    assert (await counts_of(inventory, event_id)).promised["luma"] == 1


async def test_shared_mode_drops_every_promise(inventory: Inventory, empty_event: Any) -> None:
    event_id = await empty_event(5, 0)
    assert await promise(inventory, event_id, "meetup", 5) == 5
    await inventory.drop_promises(event_id)
    counts = await counts_of(inventory, event_id)
    assert counts.promised_total == 0 and counts.offered_natively == 5


async def test_a_limit_landing_below_unrecorded_sales_keeps_their_seats_promised(
    inventory: Inventory, empty_event: Any
) -> None:
    """Meetup had 3 promised; it sold 3 we have not pulled, and a push of 1 lands: the 3
    people still need seats until they are recorded, so the promise stays at 3."""
    event_id = await empty_event(10, 0)
    assert await promise(inventory, event_id, "meetup", 3) == 3
    planned = await inventory.promise(event_id, "meetup", 1)
    assert isinstance(planned, Promise)
    beyond = 3  # the platform reported 3 more going than the count the push was planned on
    await inventory.promise(event_id, "meetup", max(planned.seats, beyond), mark=planned.mark)
    assert (await counts_of(inventory, event_id)).promised["meetup"] == 3
    for i in range(3):  # the pull records them: each uses one promised seat
        await inventory.admit_past_mirror(event_id, [f"m{i}"], "meetup")
    assert (await counts_of(inventory, event_id)).promised["meetup"] == 0


async def test_after_a_pull_the_promise_shrinks_to_what_the_limit_still_sells(
    inventory: Inventory, empty_event: Any
) -> None:
    event_id = await empty_event(10, 0)
    assert await promise(inventory, event_id, "luma", 4) == 4
    # The pull found Luma full at its confirmed limit: nothing more can be sold there.
    await inventory.promise(event_id, "luma", 0, mark=SETTLE_NOW)
    assert (await counts_of(inventory, event_id)).promised["luma"] == 0
    # Settling never grows a promise.
    await inventory.promise(event_id, "luma", 5, mark=SETTLE_NOW)
    assert (await counts_of(inventory, event_id)).promised["luma"] == 0
