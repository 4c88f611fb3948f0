"""The unified attendee list of an event, the member directory, and the CSV export.

One row per registration, with the person's profile and every channel that profile is known
on, so an organiser sees at a glance that the Luma guest is also a Meetup member.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from community.models import (
    Channel,
    Event,
    Member,
    MemberIdentity,
    Registration,
    RegistrationStatus,
)
from community.services.payments.money import plain_decimal
from community.services.payments.reports import paid_by_registration
from community.services.people.merge import visible_members_clause

PAGE_SIZE = 50
CHANNEL_ORDER = [c.value for c in Channel]


class StatusFilter(StrEnum):
    ACTIVE = "active"
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"
    CHECKED_IN = "checked_in"
    NOT_CHECKED_IN = "not_checked_in"
    OVER = "over"
    ALL = "all"


STATUS_LABELS = {
    StatusFilter.ACTIVE: "Going or waiting",
    StatusFilter.CONFIRMED: "Confirmed",
    StatusFilter.WAITLISTED: "Waitlist",
    StatusFilter.CHECKED_IN: "Checked in",
    StatusFilter.NOT_CHECKED_IN: "Not checked in",
    StatusFilter.OVER: "Over capacity",
    StatusFilter.CANCELLED: "Cancelled",
    StatusFilter.ALL: "Everyone",
}


@dataclass(frozen=True)
class AttendeeQuery:
    q: str = ""
    channel: str = ""
    status: StatusFilter = StatusFilter.ACTIVE
    page: int = 1

    @classmethod
    def parse(cls, q: str, channel: str, status: str, page: int | str) -> AttendeeQuery:
        """Unknown values fall back to the defaults: a filter link can never break the page."""
        try:
            number = max(1, min(10_000, int(page)))
        except (TypeError, ValueError):
            number = 1
        return cls(
            q=q.strip()[:120],
            channel=channel if channel in CHANNEL_ORDER else "",
            status=StatusFilter(status) if status in set(StatusFilter) else StatusFilter.ACTIVE,
            page=number,
        )


@dataclass(frozen=True)
class AttendeeRow:
    registration: Registration
    member_name: str
    member_email: str | None
    channels: list[str]  # every channel the person is known on, this registration's first
    guests: int = 0  # seats their guests hold (a Meetup +2, extra tickets of one order)
    guests_over: int = 0  # of those, guests the platform let in after every seat was gone

    @property
    def name(self) -> str:
        return self.registration.name or self.member_name or "Unnamed"

    @property
    def email(self) -> str:
        return self.registration.email or self.member_email or ""


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _filtered(event_id: UUID, query: AttendeeQuery) -> Select[Registration, str, str | None]:
    stmt = (
        select(Registration, Member.name, Member.email)
        .join(Member, Member.id == Registration.member_id)
        .where(Registration.event_id == event_id)
    )
    active = [RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED]
    status = query.status
    if status == StatusFilter.ACTIVE:
        stmt = stmt.where(Registration.status.in_(active))
    elif status in (StatusFilter.CONFIRMED, StatusFilter.WAITLISTED, StatusFilter.CANCELLED):
        stmt = stmt.where(Registration.status == status.value)
    elif status == StatusFilter.CHECKED_IN:
        stmt = stmt.where(Registration.checked_in_at.is_not(None))
    elif status == StatusFilter.NOT_CHECKED_IN:
        stmt = stmt.where(
            Registration.status == RegistrationStatus.CONFIRMED,
            Registration.checked_in_at.is_(None),
        )
    elif status == StatusFilter.OVER:
        stmt = stmt.where(
            Registration.status == RegistrationStatus.CONFIRMED,
            Registration.over_capacity.is_(True),
            Registration.seat_no.is_(None),
        )
    if query.channel:
        stmt = stmt.where(Registration.channel == query.channel)
    if query.q:
        pattern = _like(query.q)
        stmt = stmt.where(
            or_(
                Registration.name.ilike(pattern),
                Registration.email.ilike(pattern),
                Member.name.ilike(pattern),
                Member.email.ilike(pattern),
            )
        )
    return stmt


async def channels_of(session: AsyncSession, member_ids: Iterable[UUID]) -> dict[UUID, list[str]]:
    ids = list(set(member_ids))
    found: dict[UUID, set[str]] = defaultdict(set)
    if ids:
        rows = await session.execute(
            select(MemberIdentity.member_id, MemberIdentity.platform).where(
                MemberIdentity.member_id.in_(ids)
            )
        )
        for member_id, platform in rows:
            found[member_id].add(platform)
    return {k: [c for c in CHANNEL_ORDER if c in v] for k, v in found.items()}


async def guests_of(session: AsyncSession, host_ids: Iterable[UUID]) -> dict[UUID, tuple[int, int]]:
    """Active guest seats per host registration: (guests, of which over capacity)."""
    ids = list(set(host_ids))
    if not ids:
        return {}
    over = Registration.over_capacity & Registration.seat_no.is_(None)
    rows = await session.execute(
        select(
            Registration.guest_of_id,
            func.count(),
            func.count().filter(over),
        )
        .where(
            Registration.guest_of_id.in_(ids),
            Registration.status == RegistrationStatus.CONFIRMED,
        )
        .group_by(Registration.guest_of_id)
    )
    return {host: (int(n), int(o)) for host, n, o in rows if host is not None}


def _member_of(registration: Registration) -> UUID:
    """A listed row's member: the listing joins members, so a guest's place is never a row."""
    assert registration.member_id is not None
    return registration.member_id


def _channels(row_channel: str, known: Sequence[str]) -> list[str]:
    return [row_channel, *(c for c in known if c != row_channel)]


async def attendee_page(
    session: AsyncSession, event_id: UUID, query: AttendeeQuery
) -> tuple[list[AttendeeRow], int]:
    stmt = _filtered(event_id, query)
    total = int(await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    rows = (
        await session.execute(
            stmt.order_by(Registration.created_at.desc())
            .offset((query.page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        )
    ).all()
    known = await channels_of(session, (_member_of(r[0]) for r in rows))
    guests = await guests_of(session, (r[0].id for r in rows))
    return [
        AttendeeRow(
            reg,
            name,
            email,
            _channels(reg.channel, known.get(_member_of(reg), [])),
            *guests.get(reg.id, (0, 0)),
        )
        for reg, name, email in rows
    ], total


async def status_counts(session: AsyncSession, event_id: UUID) -> dict[str, int]:
    """People per status (one row each, as listed), and the seats their guests hold."""
    people = Registration.guest_of_id.is_(None)
    rows = await session.execute(
        select(Registration.status, func.count())
        .where(Registration.event_id == event_id, people)
        .group_by(Registration.status)
    )
    counts = {status: int(n) for status, n in rows}
    counts["checked_in"] = int(
        await session.scalar(
            select(func.count())
            .select_from(Registration)
            .where(
                Registration.event_id == event_id,
                people,
                Registration.checked_in_at.is_not(None),
            )
        )
        or 0
    )
    counts["guests"] = int(
        await session.scalar(
            select(func.count())
            .select_from(Registration)
            .where(
                Registration.event_id == event_id,
                Registration.guest_of_id.is_not(None),
                Registration.status == RegistrationStatus.CONFIRMED,
            )
        )
        or 0
    )
    return counts


# --- CSV ---------------------------------------------------------------------------------------

CSV_COLUMNS = [
    "name",
    "email",
    "channel",
    "known_on",
    "status",
    "over_capacity",
    "seat",
    "guests",
    "registered_at",
    "checked_in_at",
    "member_id",
    "registration_id",
    # Paid tickets: what was paid (in the currency's units, e.g. 15.00) and refunded.
    "amount_paid",
    "currency",
    "refunded",
]


def _cell(value: object) -> str:
    """Plain text for spreadsheets: a leading = + - @ would be run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _paid_cells(paid: tuple[int, str, int] | None) -> list[str]:
    if paid is None:
        return ["", "", ""]
    amount, currency, refunded = paid
    return [
        plain_decimal(amount, currency),
        currency,
        plain_decimal(refunded, currency) if refunded else "",
    ]


def _iso(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else ""


async def attendee_csv(session: AsyncSession, event: Event, query: AttendeeQuery) -> str:
    rows = (
        await session.execute(_filtered(event.id, query).order_by(Registration.created_at))
    ).all()
    known = await channels_of(session, (_member_of(r[0]) for r in rows))
    guests = await guests_of(session, (r[0].id for r in rows))
    paid = await paid_by_registration(session, (r[0].id for r in rows))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for reg, member_name, member_email in rows:
        writer.writerow(
            [
                _cell(reg.name or member_name),
                _cell(reg.email or member_email or ""),
                reg.channel,
                " ".join(_channels(reg.channel, known.get(_member_of(reg), []))),
                reg.status,
                "yes" if reg.over_capacity and reg.seat_no is None else "",
                reg.seat_no or "",
                guests.get(reg.id, (0, 0))[0] or "",
                _iso(reg.created_at),
                _iso(reg.checked_in_at),
                reg.member_id,
                reg.id,
                *_paid_cells(paid.get(reg.id)),
            ]
        )
    return out.getvalue()


# --- Member directory --------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberRow:
    member: Member
    channels: list[str]
    events: int
    last_registered: datetime | None


async def member_directory(
    session: AsyncSession,
    q: str,
    page: int,
    *,
    exclude: UUID | None = None,
    scope: ColumnElement[bool] | None = None,
) -> tuple[list[MemberRow], int]:
    """A page of profiles; `scope` limits them to those the user may see (services.access.scope)."""
    stmt = select(Member).where(visible_members_clause())
    if scope is not None:
        stmt = stmt.where(scope)
    if exclude is not None:
        stmt = stmt.where(Member.id != exclude)
    if q.strip():
        pattern = _like(q.strip()[:120])
        alias_match = (
            select(MemberIdentity.id)
            .where(
                MemberIdentity.member_id == Member.id,
                or_(MemberIdentity.name.ilike(pattern), MemberIdentity.email.ilike(pattern)),
            )
            .exists()
        )
        stmt = stmt.where(or_(Member.name.ilike(pattern), Member.email.ilike(pattern), alias_match))
    total = int(await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    members = list(
        await session.scalars(
            stmt.order_by(Member.created_at.desc())
            .offset((max(1, page) - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        )
    )
    ids = [m.id for m in members]
    stats: dict[UUID, tuple[int, datetime | None]] = {}
    if ids:
        rows = await session.execute(
            select(
                Registration.member_id,
                func.count(func.distinct(Registration.event_id)),
                func.max(Registration.created_at),
            )
            .where(Registration.member_id.in_(ids))
            .group_by(Registration.member_id)
        )
        stats = {member_id: (int(n), last) for member_id, n, last in rows if member_id is not None}
    known = await channels_of(session, ids)
    return [MemberRow(m, known.get(m.id, []), *stats.get(m.id, (0, None))) for m in members], total


@dataclass(frozen=True)
class ProfileRegistration:
    registration: Registration
    event: Event


async def member_registrations(
    session: AsyncSession, member_id: UUID, *, scope: ColumnElement[bool] | None = None
) -> list[ProfileRegistration]:
    """A profile's registrations, at the events `scope` allows (services.access.scope)."""
    stmt = (
        select(Registration, Event)
        .join(Event, Event.id == Registration.event_id)
        .where(Registration.member_id == member_id)
    )
    if scope is not None:
        stmt = stmt.where(scope)
    rows = await session.execute(stmt.order_by(Event.starts_at.desc()))
    return [ProfileRegistration(reg, event) for reg, event in rows]
