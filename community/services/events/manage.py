"""Events as organisers manage them: slugs, create, edit, publish, cancel.

They receive typed values (EventDetails, EventSeats); the admin's event form is read into
them next to its controllers (controllers/admin/event_form.py). Seat numbers (capacity,
reserve, sold-out mode) change through the inventory service once an event exists, so the
Traffic Cop and the mirror hear about every change; here they are only set when the event is
first created.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from community.config import StripeSettings
from community.models import Event, EventStatus, Registration, RegistrationStatus, User
from community.services.payments.prices import publish_problem

MAX_CAPACITY = 100_000
SLUG_MAX = 80


class InvalidInput(ValueError):
    """One or more fields are wrong; ``errors`` maps each field name to a sentence."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class EventStateError(ValueError):
    """The event cannot make this move from its current state (e.g. publishing a cancelled one)."""


# --- What an organiser sets ---------------------------------------------------------------


def one_line(text: str) -> str:
    """Line breaks and tabs become spaces, other control characters (NUL, bidi overrides,
    …) go; runs of spaces collapse."""
    text = unicodedata.normalize("NFC", text)
    kept = (" " if ch.isspace() else ch for ch in text if ch.isspace() or not _control(ch))
    return " ".join("".join(kept).split())


def _control(ch: str) -> bool:
    return unicodedata.category(ch)[0] == "C"


def multi_line(text: str) -> str:
    """Line breaks kept (as LF) and tabs kept; every other control character dropped."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C").strip()


@dataclass(frozen=True)
class EventDetails:
    """An event's details, validated (the admin's event form reads them: controllers.admin)."""

    title: str
    summary: str
    description_md: str
    venue_name: str
    address: str
    city: str
    organiser_name: str
    group_name: str
    timezone: str
    starts_at: datetime
    ends_at: datetime | None
    country: str
    online_url: str
    cover_image_url: str
    theme: str
    currency: str
    price_cents: int
    refund_days_before: int | None

    def columns(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name) for field in fields(self)}


@dataclass(frozen=True)
class EventSeats:
    """Capacity, native reserve, sold-out mode and allocation, validated."""

    capacity: int
    native_reserve: int
    soldout_mode: str
    allocation: str

    def columns(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name) for field in fields(self)}


# --- Slugs ------------------------------------------------------------------------------------


def slugify(title: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    slug = slug[:SLUG_MAX].rstrip("-")
    return slug or "event"


async def unique_slug(session: AsyncSession, title: str, *, exclude: UUID | None = None) -> str:
    """The title's slug, numbered (-2, -3, ...) when another event already uses it."""
    base = slugify(title)
    query = select(Event.slug).where(Event.slug.like(f"{base}%"))
    if exclude is not None:
        query = query.where(Event.id != exclude)
    taken = set(await session.scalars(query))
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


# --- Writes -------------------------------------------------------------------------------------


async def create_event(
    session: AsyncSession, details: EventDetails, seats: EventSeats, owner: User
) -> Event:
    event = Event(
        **details.columns(),
        **seats.columns(),
        slug=await unique_slug(session, details.title),
        owner_id=owner.id,
    )
    session.add(event)
    await session.flush()
    return event


async def update_event(session: AsyncSession, event: Event, details: EventDetails) -> Event:
    """Details only; a published event keeps its slug so shared links stay valid."""
    if event.status == EventStatus.CANCELLED:
        raise EventStateError("A cancelled event cannot be edited.")
    for key, value in details.columns().items():
        setattr(event, key, value)
    if event.status == EventStatus.DRAFT:
        event.slug = await unique_slug(session, event.title, exclude=event.id)
    await session.flush()
    return event


def event_end(event: Event) -> datetime:
    """When the event is over: its end time, or two hours after its start when it has none."""
    return event.ends_at or event.starts_at + timedelta(hours=2)


def publish_problems(event: Event, stripe: StripeSettings | None = None) -> list[str]:
    problems = []
    if stripe is not None and (problem := publish_problem(event, stripe)):
        problems.append(problem)
    if event.status == EventStatus.CANCELLED:
        problems.append("A cancelled event cannot be published again.")
    if event.capacity < 1:
        problems.append("Set a capacity of at least 1 before publishing.")
    if not (event.venue_name or event.address or event.online_url):
        problems.append("Add a venue, an address or an online link before publishing.")
    return problems


async def publish_event(
    session: AsyncSession, event: Event, *, stripe: StripeSettings | None = None
) -> Event:
    """Put the event's page online. With `stripe`, a paid event also needs Stripe set up."""
    if event.status == EventStatus.PUBLISHED:
        return event
    if problems := publish_problems(event, stripe):
        raise EventStateError(" ".join(problems))
    event.status = EventStatus.PUBLISHED
    event.published_at = datetime.now(UTC)
    await session.flush()
    return event


async def unpublish_event(session: AsyncSession, event: Event) -> Event:
    """Back to draft: only while nobody holds a place, so no attendee loses their page."""
    if event.status != EventStatus.PUBLISHED:
        raise EventStateError("Only a published event can go back to draft.")
    if await active_registrations(session, event.id):
        raise EventStateError(
            "People have registered; cancel the event instead of taking the page down."
        )
    event.status = EventStatus.DRAFT
    await session.flush()
    return event


async def cancel_event(session: AsyncSession, event: Event) -> bool:
    """Cancel the event. True when this cancelled a published event, whose people are then to
    be told (organiser_changes.cancel_event); False when it was already cancelled or a draft."""
    if event.status == EventStatus.CANCELLED:
        return False
    was_published = event.status == EventStatus.PUBLISHED
    event.status = EventStatus.CANCELLED
    event.cancelled_at = datetime.now(UTC)
    await session.flush()
    return was_published


async def cancellation_recipients(session: AsyncSession, event_id: UUID) -> list[UUID]:
    """Registrations to tell that the event is cancelled: everyone holding a seat or a waitlist
    place, on our page or (when the platform gave us their address) on a platform."""
    rows = await session.scalars(
        select(Registration.id)
        .where(
            Registration.event_id == event_id,
            Registration.status.in_([RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED]),
            Registration.email.is_not(None),
            Registration.email != "",
        )
        .order_by(Registration.created_at, Registration.id)
    )
    return list(rows)


async def active_registrations(session: AsyncSession, event_id: UUID) -> int:
    """Confirmed people (with or without a seat): the floor for capacity."""
    count = await session.scalar(
        select(func.count())
        .select_from(Registration)
        .where(
            Registration.event_id == event_id,
            Registration.status == RegistrationStatus.CONFIRMED,
        )
    )
    return int(count or 0)


async def get_event(session: AsyncSession, event_id: UUID) -> Event | None:
    event = await session.get(Event, event_id)
    return None if event is None or event.deleted_at is not None else event
