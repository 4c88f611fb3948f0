"""The inventory rules as a table: each case is a sequence of calls and the answers expected."""

from __future__ import annotations

from typing import Any

import pytest
from inventory_outcomes import describe

from community.services.seats.inventory import (
    Already,
    Closed,
    Inventory,
    NotLoaded,
    Released,
    Seat,
)


async def call(inventory: Inventory, event_id: Any, op: str, who: str, arg: str) -> str:
    keys = [who]
    match op:
        case "reserve":
            return describe(await inventory.reserve(event_id, keys, arg))
        case "hold":
            return describe(await inventory.hold(event_id, keys, arg, ttl_s=60))
        case "race":
            return describe(await inventory.admit_past_mirror(event_id, keys, arg))
        case "confirm":
            return describe(await inventory.confirm_hold(event_id, keys))
        case "release":
            seat = None if arg == "" else int(arg)
            return describe(await inventory.release(event_id, keys, seat_no=seat))
        case "promote":
            return describe(await inventory.promote(event_id, keys))
        case "seat_over":
            return describe(await inventory.seat_over_capacity(event_id, keys))
    raise AssertionError(op)


N, M, E, L = "native", "meetup", "eventbrite", "luma"

# (name, capacity, reserve, mode, [(op, who, channel-or-seat, expected)], expected counts)
CASES: list[tuple[str, int, int, str, list[tuple[str, str, str, str]], dict[str, int]]] = [
    (
        "native registrations may use every seat",
        3,
        3,
        "sold_out",
        [
            ("reserve", "a", N, "seat 1"),
            ("reserve", "b", N, "seat 2"),
            ("reserve", "c", N, "seat 3"),
            ("reserve", "d", N, "sold out"),
        ],
        {"native": 3, "external": 0, "free": 0, "shared_left": 0, "native_left": 0},
    ),
    (
        "platforms only get the shared seats C - R",
        5,
        3,
        "sold_out",
        [
            ("reserve", "a", M, "seat 1"),
            ("reserve", "b", E, "seat 2"),
            ("reserve", "c", L, "sold out"),
            ("reserve", "d", N, "seat 3"),
            ("reserve", "e", N, "seat 4"),
            ("reserve", "f", N, "seat 5"),
            ("reserve", "g", N, "sold out"),
        ],
        {"native": 3, "external": 2, "free": 0, "shared_left": 0, "native_left": 0},
    ),
    (
        "the reserve is untouched while natives stay under it",
        4,
        2,
        "sold_out",
        [
            ("reserve", "a", N, "seat 1"),
            ("reserve", "b", M, "seat 2"),
            ("reserve", "c", M, "seat 3"),
            ("reserve", "d", M, "sold out"),
            ("reserve", "e", N, "seat 4"),
            ("reserve", "f", N, "sold out"),
        ],
        {"native": 2, "external": 2, "free": 0, "shared_left": 0, "native_left": 0},
    ),
    (
        "native seats spill into the shared pool once the reserve is used up",
        4,
        2,
        "sold_out",
        [
            ("reserve", "a", N, "seat 1"),
            ("reserve", "b", N, "seat 2"),
            ("reserve", "c", N, "seat 3"),
            ("reserve", "d", M, "seat 4"),
            ("reserve", "e", L, "sold out"),
        ],
        {"native": 3, "external": 1, "free": 0, "shared_left": 0, "native_left": 0},
    ),
    (
        "a spilled native seat shrinks what the platforms see",
        5,
        2,
        "sold_out",
        [
            ("reserve", "a", N, "seat 1"),
            ("reserve", "b", N, "seat 2"),
            ("reserve", "c", N, "seat 3"),
            ("reserve", "d", E, "seat 4"),
            ("reserve", "e", E, "seat 5"),
            ("reserve", "f", E, "sold out"),
        ],
        {"native": 3, "external": 2, "free": 0, "shared_left": 0},
    ),
    (
        "a reserve equal to the capacity closes every platform",
        2,
        2,
        "sold_out",
        [("reserve", "a", M, "sold out"), ("reserve", "b", N, "seat 1")],
        {"native": 1, "external": 0, "free": 1, "shared_left": 0, "native_left": 1},
    ),
    (
        "zero capacity is sold out on every channel",
        0,
        0,
        "sold_out",
        [("reserve", "a", N, "sold out"), ("reserve", "b", M, "sold out")],
        {"native": 0, "external": 0, "free": 0, "shared_left": 0, "native_left": 0},
    ),
    (
        "one person, one seat, whatever the channel",
        5,
        1,
        "sold_out",
        [
            ("reserve", "a", N, "seat 1"),
            ("reserve", "a", M, "already native c"),
            ("reserve", "b", L, "seat 2"),
            ("reserve", "b", N, "already luma c"),
            ("reserve", "b", L, "already luma c"),
        ],
        {"native": 1, "external": 1, "free": 3},
    ),
    (
        "a released seat is handed out again, lowest first",
        3,
        0,
        "sold_out",
        [
            ("reserve", "a", N, "seat 1"),
            ("reserve", "b", N, "seat 2"),
            ("reserve", "c", N, "seat 3"),
            ("release", "b", "", "released 2"),
            ("release", "a", "1", "released 1"),
            ("reserve", "d", M, "seat 1"),
            ("reserve", "e", N, "seat 2"),
            ("release", "e", "", "released 2"),
            ("release", "e", "", "missing"),
        ],
        {"native": 1, "external": 1, "free": 1},
    ),
    (
        "a release naming another seat changes nothing",
        2,
        0,
        "sold_out",
        [
            ("reserve", "a", N, "seat 1"),
            ("release", "a", "2", "mismatch"),
            ("reserve", "b", N, "seat 2"),
            ("reserve", "c", N, "sold out"),
        ],
        {"native": 2, "free": 0},
    ),
    (
        "full in waitlist mode: natives join the waitlist, platforms are sold out",
        1,
        0,
        "waitlist",
        [
            ("reserve", "a", N, "seat 1"),
            ("reserve", "b", N, "waitlist"),
            ("reserve", "b", N, "already native w"),
            ("reserve", "c", M, "sold out"),
            ("reserve", "d", N, "waitlist"),
        ],
        {"native": 1, "waiting": 2, "free": 0},
    ),
    (
        "a newcomer waits behind the waitlist, and promotion seats the first in line",
        1,
        0,
        "waitlist",
        [
            ("reserve", "a", N, "seat 1"),
            ("reserve", "b", N, "waitlist"),
            ("release", "a", "1", "released 1"),
            ("reserve", "c", N, "waitlist"),
            ("promote", "b", "", "seat 1"),
            ("promote", "c", "", "full"),
            ("promote", "a", "", "missing"),
            ("promote", "b", "", "mismatch"),
        ],
        {"native": 1, "waiting": 1, "free": 0},
    ),
    (
        "a platform race takes a reserved seat, then is counted over capacity",
        3,
        2,
        "sold_out",
        [
            ("reserve", "a", M, "seat 1"),
            ("reserve", "b", M, "sold out"),
            ("race", "b", M, "seat 2 raced"),
            ("race", "c", E, "seat 3 raced"),
            ("race", "d", L, "over capacity"),
            ("race", "d", L, "already luma o"),
            ("reserve", "e", N, "sold out"),
        ],
        {"native": 0, "external": 3, "over_capacity": 1, "free": 0, "shared_left": -3},
    ),
    (
        "a seat freed while someone is over capacity is theirs, not a newcomer's",
        3,
        1,
        "waitlist",
        [
            ("race", "a", M, "seat 1"),
            ("race", "b", E, "seat 2"),
            ("race", "c", L, "seat 3 raced"),
            ("race", "d", L, "over capacity"),
            ("race", "e", M, "over capacity"),
            ("release", "a", "", "released 1"),
            ("reserve", "n", N, "waitlist"),
            ("race", "f", E, "over capacity"),
            ("seat_over", "d", "", "seat 1"),
            ("seat_over", "e", "", "full"),
            ("promote", "n", "", "full"),
            ("release", "b", "", "released 2"),
            ("promote", "n", "", "full"),
            ("seat_over", "e", "", "seat 2"),
            ("seat_over", "b", "", "missing"),
        ],
        {
            "native": 0,
            "external": 3,
            "over_capacity": 1,
            "waiting": 1,
            "free": 0,
            "native_left": -1,
        },
    ),
    (
        "a race within the shared seats is an ordinary seat",
        3,
        1,
        "sold_out",
        [
            ("race", "a", M, "seat 1"),
            ("reserve", "b", E, "seat 2"),
            ("reserve", "c", M, "sold out"),
        ],
        {"external": 2, "free": 1, "shared_left": 0},
    ),
    (
        "held seats count as taken until confirmed or let go",
        2,
        1,
        "sold_out",
        [
            ("hold", "a", N, "held 1"),
            ("hold", "b", M, "held 2"),
            ("reserve", "c", N, "sold out"),
            ("confirm", "a", "", "seat 1"),
            ("confirm", "a", "", "mismatch"),
            ("release", "b", "", "released 2"),
            ("reserve", "c", M, "seat 2"),
            ("confirm", "b", "", "missing"),
        ],
        {"native": 1, "external": 1, "held": 0, "free": 0},
    ),
]


@pytest.mark.parametrize(
    ("capacity", "reserve", "mode", "steps", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
async def test_inventory_rules(
    inventory: Inventory,
    empty_event: Any,
    capacity: int,
    reserve: int,
    mode: str,
    steps: list[tuple[str, str, str, str]],
    expected: dict[str, int],
) -> None:
    event_id = await empty_event(capacity, reserve, mode)
    answers = [await call(inventory, event_id, op, who, arg) for op, who, arg, _ in steps]
    assert answers == [answer for *_, answer in steps]
    counts = await inventory.counts(event_id)
    assert not isinstance(counts, NotLoaded)
    assert {name: getattr(counts, name) for name in expected} == expected
    # The free list and the counters always agree; over-capacity claims wait for free seats.
    assert counts.free - counts.over_capacity == counts.native_left


async def test_closed_event_answers_closed_but_keeps_duplicates(
    inventory: Inventory, empty_event: Any
) -> None:
    event_id = await empty_event(3, 0, open_=False)
    assert isinstance(await inventory.reserve(event_id, ["a"]), Closed)
    assert isinstance(await inventory.admit_past_mirror(event_id, ["a"], "meetup"), Closed)


async def test_unknown_event_is_not_loaded(inventory: Inventory) -> None:
    import uuid

    event_id = uuid.uuid4()
    assert isinstance(await inventory.reserve(event_id, ["a"]), NotLoaded)
    assert isinstance(await inventory.counts(event_id), NotLoaded)
    assert isinstance(await inventory.release(event_id, ["a"]), NotLoaded)


async def test_one_person_known_by_several_keys(inventory: Inventory, empty_event: Any) -> None:
    event_id = await empty_event(5, 0)
    assert isinstance(await inventory.reserve(event_id, ["e:1", "p:meetup:9"], "meetup"), Seat)
    # Found under either name; the new name is linked so it is found directly next time.
    first = await inventory.reserve(event_id, ["p:meetup:9"], "native")
    assert isinstance(first, Already) and first.channel == "meetup"
    assert isinstance(await inventory.reserve(event_id, ["m:7", "e:1"], "luma"), Already)
    assert isinstance(await inventory.reserve(event_id, ["m:7"], "native"), Already)
    assert isinstance(await inventory.release(event_id, ["m:7"]), Released)
    assert isinstance(await inventory.reserve(event_id, ["e:1"]), Seat)


async def test_member_keys_and_channels_are_validated(
    inventory: Inventory, empty_event: Any
) -> None:
    event_id = await empty_event(5, 0)
    for bad in ([], ["a|b"], ["a,b"], ["x" * 121], [""]):
        with pytest.raises(ValueError):
            await inventory.reserve(event_id, bad)
    with pytest.raises(ValueError):
        await inventory.reserve(event_id, ["a"], "myspace")
    with pytest.raises(ValueError):
        await inventory.admit_past_mirror(event_id, ["a"], "native")
