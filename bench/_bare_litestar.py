"""The ceiling for bench/checkin.py: a bare Litestar endpoint taking the same request as a
check-in and giving a reply of the same size, with no middleware, no database and no Redis,
served by granian exactly as the product is. Whatever the check-in costs beyond this is ours.

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


app = Litestar([check_in], openapi_config=None, logging_config=None)
