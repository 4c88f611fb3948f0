"""Who may work the door, remembered per process: a door token's user for a few seconds, and
for a minute that a user may open an event at the door (the check-in path asks both at every
scan)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from uuid import UUID

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from community.db import driver_connection
from community.models import Role
from community.services.access import scope as access
from community.services.access.scope import Who


@dataclass(frozen=True, slots=True)
class Staff:
    """A signed-in user allowed at the door, as read for one request."""

    id: UUID
    name: str
    role: str
    session_version: int = 0


async def active_user(conn: asyncpg.Connection, user_id: UUID) -> Staff | None:
    """The user behind a session or door token, if the account is still active."""
    row = await conn.fetchrow(_ACTIVE_USER, user_id)
    if row is None:
        return None
    return Staff(row["id"], row["name"], row["role"], row["session_version"])


# The door API with a door token re-reads its user at most this often per process: a disabled
# account or a changed role is refused within these seconds (a signed-in page: at once).
STAFF_CACHE_SECONDS = 5.0
_STAFF: dict[UUID, tuple[float, Staff | None]] = {}


async def active_user_cached(engine: AsyncEngine, user_id: UUID) -> Staff | None:
    """`active_user`, remembered for STAFF_CACHE_SECONDS (a refusal too)."""
    now = time.monotonic()
    cached = _STAFF.get(user_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    async with driver_connection(engine) as conn:
        staff = await active_user(conn, user_id)
    if len(_STAFF) > 1000:
        _STAFF.clear()
    _STAFF[user_id] = (now + STAFF_CACHE_SECONDS, staff)
    return staff


def forget_cached_staff() -> None:
    _STAFF.clear()


# Check-ins name their event in the URL; whether this user may open it at the door rarely
# changes, so each process remembers a yes for a minute instead of asking on every scan.
_OPEN_EVENTS: dict[tuple[UUID, str, UUID], float] = {}
EVENT_CACHE_SECONDS = 60.0


async def event_exists(conn: asyncpg.Connection, event_id: UUID, staff: Who) -> bool:
    """Whether `staff` may work this event at the door (services.access.scope's rule, as
    the raw statement of DOOR_EVENT_SQL)."""
    if _event_known(event_id, staff):
        return True
    sql = access.DOOR_EVENT_SQL[Role(staff.role)]
    args = (event_id, staff.id) if staff.role == Role.ORGANISER else (event_id,)
    found = await conn.fetchval(sql, *args)
    return _remember_event(event_id, staff) if found is not None else False


def _event_known(event_id: UUID, staff: Who) -> bool:
    return _OPEN_EVENTS.get((event_id, staff.role, staff.id), 0.0) > time.monotonic()


def _remember_event(event_id: UUID, staff: Who) -> bool:
    if len(_OPEN_EVENTS) > 1000:
        _OPEN_EVENTS.clear()
    _OPEN_EVENTS[(event_id, staff.role, staff.id)] = time.monotonic() + EVENT_CACHE_SECONDS
    return True


_ACTIVE_USER = "SELECT id, name, role, session_version FROM users WHERE id = $1 AND is_active"
