"""The ceiling for bench/checkin.py and bench/flash_sale.py: bare Litestar endpoints taking the
same requests as a check-in and a registration and giving replies of the same size, with no
middleware, no database and no Redis, served by granian exactly as the product is. Whatever
the product costs beyond this is ours.

Not a benchmark itself: `make bench` runs only the files whose names do not start with "_".
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Litestar, post
from msgspec import Struct


class Scan(Struct):
    device: str
    token: str | None = None
    registration_id: UUID | None = None
    op_id: UUID | None = None


REPLY: dict[str, Any] = {
    "result": "ok",
    "tone": "green",
    "message": "Checked in.",
    "op_id": None,
    "replayed": False,
    "scanned_at": "2026-01-01T19:00:00.000000+00:00",
    "attendee": {
        "id": "01900000-0000-7000-8000-000000000000",
        "name": "Guest 00001",
        "channel": "meetup",
        "status": "confirmed",
        "checked_in_at": "2026-01-01T19:00:00.000000+00:00",
        "checked_in_by": "Bench door",
    },
    "superseded": None,
}


@post("/door/api/events/{event_id:uuid}/checkins", status_code=200)
async def check_in(event_id: UUID, data: Scan) -> dict[str, Any]:
    return REPLY


class Person(Struct):
    name: str
    email: str


REGISTERED: dict[str, Any] = {
    "status": "confirmed",
    "registration_id": "01900000-0000-7000-8000-000000000000",
    "event_id": "01900000-0000-7000-8000-000000000001",
    "ticket_token": "x" * 43,
    "seat_no": 1,
    "waitlist_position": None,
}


@post("/api/events/{event_id:uuid}/registrations", status_code=201)
async def register(event_id: UUID, data: Person) -> dict[str, Any]:
    """The ceiling for bench/flash_sale.py: a registration's request and reply, no work."""
    return REGISTERED


app = Litestar([check_in, register], openapi_config=None, logging_config=None)
