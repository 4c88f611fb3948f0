"""What the door lists: its events, everyone registered (for offline use), a search by name
or e-mail, and how many are in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeAlias
from uuid import UUID

from sqlalchemy import Row, Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from community.models import Event, EventStatus, Registration, RegistrationStatus
from community.services.access import scope as access
from community.services.access.scope import Who
from community.services.door.outcomes import CheckinInputError
from community.services.door.scan import utcnow

SEARCH_LIMIT = 20


@dataclass(frozen=True, slots=True)
class CheckinCounts:
    checked_in: int
    expected: int


@dataclass(frozen=True, slots=True)
class RosterEntry:
    id: UUID
    name: str
    email: str | None
    channel: str
    status: str
    checked_in_at: datetime | None
    checked_in_by: str
    guests: int = 0  # guests they bring: they come in with them


@dataclass(frozen=True, slots=True)
class Roster:
    generated_at: datetime
    entries: list[RosterEntry]
    counts: CheckinCounts
    full: bool


@dataclass(frozen=True, slots=True)
class EventCard:
    event: Event
    counts: CheckinCounts


# A row of any columns: the roster queries read theirs by name.
_AnyRow: TypeAlias = Row[*tuple[Any, ...]]


async def counts(session: AsyncSession, event_id: UUID) -> CheckinCounts:
    """Seats expected and seats in: a guest is in when the person who brought them is."""
    confirmed = Registration.status == RegistrationStatus.CONFIRMED
    host = aliased(Registration)
    arrived = func.coalesce(host.checked_in_at, Registration.checked_in_at).is_not(None)
    row = (
        await session.execute(
            select(func.count().filter(confirmed), func.count().filter(confirmed, arrived))
            .select_from(Registration)
            .outerjoin(host, host.id == Registration.guest_of_id)
            .where(Registration.event_id == event_id)
        )
    ).one()
    return CheckinCounts(checked_in=row[1], expected=row[0])


def _not_superseded() -> Any:
    """Leave out a cancelled place of someone who holds another place at the same event (a
    merged duplicate): the door lists one person once."""
    other = aliased(Registration)
    holds_another = (
        select(other.id)
        .where(
            other.event_id == Registration.event_id,
            other.member_id == Registration.member_id,
            other.id != Registration.id,
            other.status.in_((RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED)),
        )
        .exists()
    )
    return or_(Registration.status != RegistrationStatus.CANCELLED, ~holds_another)


def _people(event_id: UUID) -> Select[Any]:
    """One row per person (guests come with their host), with how many guests they bring."""
    guest = aliased(Registration)
    guests = (
        select(func.count())
        .where(guest.guest_of_id == Registration.id, guest.status == RegistrationStatus.CONFIRMED)
        .correlate(Registration)
        .scalar_subquery()
    )
    return select(
        Registration.id,
        Registration.name,
        Registration.channel,
        Registration.status,
        Registration.checked_in_at,
        Registration.checked_in_by,
        Registration.email,
        guests.label("guests"),
    ).where(Registration.event_id == event_id, Registration.guest_of_id.is_(None))


async def roster(session: AsyncSession, event_id: UUID, *, since: datetime | None = None) -> Roster:
    """Everyone registered (any status), or only those changed since `since` (changes keep
    merged-away places, so a door that listed one learns it is cancelled)."""
    generated_at = utcnow()
    query = _people(event_id)
    if since is not None:
        query = query.where(Registration.updated_at >= since)
    else:
        query = query.where(_not_superseded())
    rows = (await session.execute(query.order_by(Registration.name))).all()
    entries = [_entry(row) for row in rows]
    return Roster(generated_at, entries, await counts(session, event_id), full=since is None)


def _entry(row: _AnyRow) -> RosterEntry:
    return RosterEntry(
        id=row.id,
        name=row.name,
        email=row.email,
        channel=row.channel,
        status=row.status,
        checked_in_at=row.checked_in_at,
        checked_in_by=row.checked_in_by,
        guests=int(row.guests or 0),
    )


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search(
    session: AsyncSession, event_id: UUID, q: str, *, limit: int = SEARCH_LIMIT
) -> list[RosterEntry]:
    """People of this event whose name or e-mail contains `q` (for those without a ticket)."""
    words = q.split()
    if not words or len(q.strip()) < 2:
        raise CheckinInputError("q: type at least two letters of a name or e-mail.")
    query = _people(event_id).where(_not_superseded())
    for word in words[:5]:
        pattern = _like(word)
        query = query.where(
            or_(Registration.name.ilike(pattern), Registration.email.ilike(pattern))
        )
    rows = (await session.execute(query.order_by(Registration.name).limit(limit))).all()
    return [_entry(row) for row in rows]


async def door_event(session: AsyncSession, event_id: UUID, staff: Who) -> Event | None:
    """The event, if `staff` may work it at the door (see services.access.scope)."""
    return await session.scalar(
        select(Event).where(
            Event.id == event_id, Event.deleted_at.is_(None), access.door_events(staff, utcnow())
        )
    )


async def door_events(
    session: AsyncSession, staff: Who, *, now: datetime | None = None, limit: int = 30
) -> list[EventCard]:
    """Events a door could be working, from yesterday on, soonest first, with their counts
    (only those `staff` may work, see services.access.scope)."""
    now = now or utcnow()
    events = list(
        (
            await session.execute(
                select(Event)
                .where(
                    Event.deleted_at.is_(None),
                    Event.status != EventStatus.DRAFT,
                    access.door_events(staff, now),
                    func.coalesce(Event.ends_at, Event.starts_at) >= now - timedelta(days=1),
                )
                .order_by(Event.starts_at)
                .limit(limit)
            )
        ).scalars()
    )
    if not events:
        return []
    confirmed = Registration.status == RegistrationStatus.CONFIRMED
    totals = {
        row.event_id: CheckinCounts(checked_in=row.checked_in, expected=row.expected)
        for row in await session.execute(
            select(
                Registration.event_id,
                func.count().filter(confirmed).label("expected"),
                func.count()
                .filter(confirmed, Registration.checked_in_at.is_not(None))
                .label("checked_in"),
            )
            .where(Registration.event_id.in_([event.id for event in events]))
            .group_by(Registration.event_id)
        )
    }
    return [EventCard(event, totals.get(event.id, CheckinCounts(0, 0))) for event in events]
