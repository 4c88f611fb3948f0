"""How a test writes an inventory answer: short words that read well in a table of cases."""

from __future__ import annotations

from typing import Any

from community.services.seats.inventory import (
    Already,
    Closed,
    Full,
    JoinedWaitlist,
    Mismatch,
    Missing,
    NotLoaded,
    OverCapacity,
    PlaceState,
    Released,
    Seat,
    SoldOut,
)


def describe(result: Any) -> str:
    match result:
        case Seat(seat_no=n, state=PlaceState.HELD):
            return f"held {n}"
        case Seat(seat_no=n, raced=True):
            return f"seat {n} raced"
        case Seat(seat_no=n):
            return f"seat {n}"
        case Already(channel=channel, state=state):
            return f"already {channel} {state.value}"
        case SoldOut():
            return "sold out"
        case JoinedWaitlist():
            return "waitlist"
        case Closed():
            return "closed"
        case OverCapacity():
            return "over capacity"
        case Released(seat_no=n):
            return f"released {n}"
        case Missing():
            return "missing"
        case Mismatch():
            return "mismatch"
        case Full():
            return "full"
        case NotLoaded():
            return "not loaded"
    raise AssertionError(f"unexpected result {result!r}")
