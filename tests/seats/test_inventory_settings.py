"""Capacity, reserve and mode changes, and holds that expire by themselves."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from community.models.enums import SoldOutMode
from community.services.seats.inventory import (
    MAX_CAPACITY,
    Counts,
    Inventory,
    InventoryError,
    InventorySettings,
    JoinedWaitlist,
    Missing,
    PlaceState,
    Seat,
    SeatMove,
    SoldOut,
)


async def counts(inventory: Inventory, event_id: Any) -> Counts:
    result = await inventory.counts(event_id)
    assert isinstance(result, Counts)
    return result


async def fill(inventory: Inventory, event_id: Any, people: list[str], channel: str = "native"):
    return [await inventory.reserve(event_id, [p], channel) for p in people]


async def test_raising_capacity_adds_free_seats(inventory: Inventory, empty_event: Any) -> None:
    event_id = await empty_event(2, 0)
    await fill(inventory, event_id, ["a", "b"])
    assert isinstance(await inventory.reserve(event_id, ["c"]), SoldOut)
    assert await inventory.configure(event_id, InventorySettings(4, 0)) == []
    assert (await counts(inventory, event_id)).free == 2
    assert [r.seat_no for r in await fill(inventory, event_id, ["c", "d"])] == [3, 4]


@pytest.mark.parametrize(
    ("new", "code"),
    [
        (InventorySettings(1, 0), "capacity_below_taken"),
        (InventorySettings(3, 4), "reserve_out_of_range"),
        (InventorySettings(3, -1), "reserve_out_of_range"),
        (InventorySettings(-1, 0), "capacity_out_of_range"),
        (InventorySettings(MAX_CAPACITY + 1, 0), "capacity_out_of_range"),
    ],
)
async def test_impossible_settings_are_refused(
    inventory: Inventory, empty_event: Any, new: InventorySettings, code: str
) -> None:
    event_id = await empty_event(3, 1)
    await fill(inventory, event_id, ["a", "b"])
    before = await counts(inventory, event_id)
    with pytest.raises(InventoryError) as caught:
        await inventory.configure(event_id, new)
    assert caught.value.code == code
    assert await counts(inventory, event_id) == before


async def test_lowering_capacity_below_a_taken_seat_refuses_and_names_it(
    inventory: Inventory, empty_event: Any
) -> None:
    event_id = await empty_event(5, 0)
    await fill(inventory, event_id, ["a", "b", "c", "d", "e"])
    await inventory.release(event_id, ["a"])
    await inventory.release(event_id, ["c"])
    with pytest.raises(InventoryError) as caught:
        await inventory.configure(event_id, InventorySettings(3, 0))
    assert caught.value.code == "seats_beyond_capacity"
    assert caught.value.seats == [4, 5]
    assert (await counts(inventory, event_id)).capacity == 5


async def test_lowering_capacity_can_renumber_into_free_seats(
    inventory: Inventory, empty_event: Any
) -> None:
    event_id = await empty_event(6, 0)
    await fill(inventory, event_id, ["a", "b", "c", "d", "e", "f"])
    for person in ("a", "c", "f"):
        await inventory.release(event_id, [person])
    moves = await inventory.configure(event_id, InventorySettings(3, 0), renumber=True)
    assert moves == [SeatMove("d", 4, 1), SeatMove("e", 5, 3)]
    state = await inventory.dump(event_id)
    assert not isinstance(state, type(None))
    seats = sorted(p.seat_no for p in state.places)  # type: ignore[union-attr]
    assert seats == [1, 2, 3]
    assert (await counts(inventory, event_id)).free == 0
    assert isinstance(await inventory.reserve(event_id, ["g"]), SoldOut)
    # The seats above the new capacity are gone for good; a seat freed below it is reused.
    await inventory.release(event_id, ["b"])
    assert (await inventory.reserve(event_id, ["g"])).seat_no == 2  # type: ignore[union-attr]


async def test_lowering_capacity_over_free_seats_only(
    inventory: Inventory, empty_event: Any
) -> None:
    event_id = await empty_event(10, 0)
    await fill(inventory, event_id, ["a", "b", "c", "d"])
    await inventory.release(event_id, ["d"])
    await inventory.release(event_id, ["b"])
    assert await inventory.configure(event_id, InventorySettings(3, 0)) == []
    c = await counts(inventory, event_id)
    assert (c.capacity, c.taken, c.free) == (3, 2, 1)
    assert (await inventory.reserve(event_id, ["x"])).seat_no == 2  # type: ignore[union-attr]
    assert isinstance(await inventory.reserve(event_id, ["y"]), SoldOut)


async def test_changing_the_reserve_moves_the_platform_limit(
    inventory: Inventory, empty_event: Any
) -> None:
    event_id = await empty_event(4, 3)
    assert [type(r) for r in await fill(inventory, event_id, ["a", "b"], "meetup")] == [
        Seat,
        SoldOut,
    ]
    await inventory.configure(event_id, InventorySettings(4, 1))
    c = await counts(inventory, event_id)
    assert (c.shared_left, c.platform_limit(7)) == (2, 9)
    assert [type(r) for r in await fill(inventory, event_id, ["b", "c", "d"], "luma")] == [
        Seat,
        Seat,
        SoldOut,
    ]
    # Raising the reserve above what is left for the platforms never evicts anyone.
    await inventory.configure(event_id, InventorySettings(4, 4))
    c = await counts(inventory, event_id)
    assert (c.external, c.shared_left, c.platform_limit(7)) == (3, -3, 7)


async def test_switching_mode_between_sold_out_and_waitlist(
    inventory: Inventory, empty_event: Any
) -> None:
    event_id = await empty_event(1, 0)
    await fill(inventory, event_id, ["a"])
    assert isinstance(await inventory.reserve(event_id, ["b"]), SoldOut)
    await inventory.configure(event_id, InventorySettings(1, 0, SoldOutMode.WAITLIST))
    assert isinstance(await inventory.reserve(event_id, ["b"]), JoinedWaitlist)
    assert (await counts(inventory, event_id)).waiting == 1


async def test_a_hold_that_expires_returns_its_seat_by_itself(
    inventory: Inventory, empty_event: Any
) -> None:
    event_id = await empty_event(2, 1)
    held = await inventory.hold(event_id, ["a"], ttl_s=0.15)
    assert isinstance(held, Seat) and held.state == PlaceState.HELD and held.expires_at
    await inventory.hold(event_id, ["b"], "meetup", ttl_s=30)
    c = await counts(inventory, event_id)
    assert (c.native, c.external, c.held, c.free) == (1, 1, 2, 0)
    assert isinstance(await inventory.reserve(event_id, ["c"]), SoldOut)
    await asyncio.sleep(0.25)
    # No timer ran: the next script swept the expired hold before counting.
    c = await counts(inventory, event_id)
    assert (c.native, c.external, c.held, c.free) == (0, 1, 1, 1)
    assert isinstance(await inventory.confirm_hold(event_id, ["a"]), Missing)
    assert (await inventory.reserve(event_id, ["c"])).seat_no == 1  # type: ignore[union-attr]
    confirmed = await inventory.confirm_hold(event_id, ["b"])
    assert isinstance(confirmed, Seat) and confirmed.seat_no == 2
    c = await counts(inventory, event_id)
    assert (c.held, c.taken) == (0, 2)


async def test_expired_holds_are_swept_by_any_operation(
    inventory: Inventory, empty_event: Any
) -> None:
    event_id = await empty_event(300, 0)
    for i in range(250):
        await inventory.hold(event_id, [f"h{i}"], ttl_s=0.1)
    await asyncio.sleep(0.15)
    # A reservation, not a count, is the first call after expiry; the counts stay exact.
    first = await inventory.reserve(event_id, ["late"])
    assert isinstance(first, Seat) and first.seat_no == 1
    c = await counts(inventory, event_id)
    assert (c.held, c.taken, c.free) == (0, 1, 299)


async def test_hold_duration_is_validated(inventory: Inventory, empty_event: Any) -> None:
    event_id = await empty_event(2, 0)
    for ttl in (0, -1, 2 * 86400):
        with pytest.raises(ValueError):
            await inventory.hold(event_id, ["a"], ttl_s=ttl)
