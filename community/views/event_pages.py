"""Read side of the public pages: which events are visible, and everything a page shows of one.

Controllers get a ready `EventView` (dates already in the event's time zone, links built,
description rendered) so both themes render the same facts from the same context.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import quote_plus
from uuid import UUID
from zoneinfo import ZoneInfo

from redis.asyncio import Redis
from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import lazyload

from community.config import Settings
from community.models import (
    PLATFORM_LABELS,
    Channel,
    Event,
    EventStatus,
    MemberIdentity,
    Registration,
    RegistrationStatus,
    Theme,
)
from community.services.events.manage import event_end
from community.services.events.text import plain_text, render_markdown, shorten
from community.services.payments.prices import is_paid, price_text, refund_rule_text
from community.services.seats.inventory import Counts, Inventory

DEFAULT_THEME = Theme.MEETUP
DASH = " \u2013 "  # en dash between times
CHANNEL_LABELS: dict[str, str] = {Channel.NATIVE.value: "this page", **PLATFORM_LABELS}


class PageState(StrEnum):
    """How a slug resolves: a live page, a cancelled event (410 with its page), or nothing."""

    LIVE = "live"
    CANCELLED = "cancelled"
    GONE = "gone"  # deleted: 410
    MISSING = "missing"  # never existed or still a draft: 404


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


_Query = TypeVar("_Query", bound=Select[Any])


def _public(query: _Query) -> _Query:
    return query.where(Event.status != EventStatus.DRAFT, Event.deleted_at.is_(None))


async def find_event(session: AsyncSession, slug: str) -> tuple[Event | None, PageState]:
    if not slug or len(slug) > 120:
        return None, PageState.MISSING
    event = await session.scalar(
        select(Event).options(lazyload(Event.listings)).where(Event.slug == slug.lower())
    )
    if event is None or event.status == EventStatus.DRAFT:
        return None, PageState.MISSING
    if event.deleted_at is not None:
        return event, PageState.GONE
    if event.status == EventStatus.CANCELLED:
        return event, PageState.CANCELLED
    return event, PageState.LIVE


async def upcoming_events(session: AsyncSession, *, limit: int = 60) -> list[Event]:
    """Published events that have not ended yet, soonest first."""
    now = datetime.now(UTC)
    query = _public(select(Event).options(lazyload(Event.listings))).where(
        Event.status == EventStatus.PUBLISHED,
        or_(
            Event.ends_at >= now,
            Event.ends_at.is_(None) & (Event.starts_at >= now - timedelta(hours=3)),
        ),
    )
    return list(await session.scalars(query.order_by(Event.starts_at).limit(limit)))


async def sitemap_events(session: AsyncSession) -> list[Event]:
    """Every page a search engine may keep: published, not deleted or cancelled, past or future."""
    query = _public(select(Event).options(lazyload(Event.listings))).where(
        Event.status == EventStatus.PUBLISHED
    )
    return list(await session.scalars(query.order_by(Event.starts_at.desc()).limit(50_000)))


# --- Who is going -----------------------------------------------------------------------


@dataclass(frozen=True)
class Face:
    """One person in the face pile: their initial, and their platform photo where there is
    one (the initial stays beneath it, seen if the photo does not load)."""

    initial: str
    photo_url: str | None = None


@dataclass(frozen=True)
class GoingCounts:
    """Confirmed people per channel, and the waitlist, from the registration ledger."""

    by_channel: dict[str, int] = field(default_factory=dict)
    waitlisted: int = 0
    faces: tuple[Face, ...] = ()

    @property
    def total(self) -> int:
        return sum(self.by_channel.values())

    def channels(self) -> list[tuple[str, str, int]]:
        """(channel, label, count) for channels with anyone going, native first."""
        order = [Channel.NATIVE, Channel.MEETUP, Channel.EVENTBRITE, Channel.LUMA]
        return [
            (c.value, CHANNEL_LABELS[c], self.by_channel[c.value])
            for c in order
            if self.by_channel.get(c.value)
        ]


def initial_of(name: str) -> str:
    """First letter of the first name only: a friendly face pile without publishing names."""
    name = name.strip()
    return name[0].upper() if name and name[0].isalpha() else "•"


async def going_counts(session: AsyncSession, event_id: UUID, *, faces: int = 8) -> GoingCounts:
    rows = await session.execute(
        select(Registration.channel, Registration.status, func.count())
        .where(
            Registration.event_id == event_id,
            Registration.status.in_([RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED]),
        )
        .group_by(Registration.channel, Registration.status)
    )
    by_channel: dict[str, int] = {}
    waitlisted = 0
    for channel, status, count in rows:
        if status == RegistrationStatus.CONFIRMED:
            by_channel[channel] = by_channel.get(channel, 0) + count
        else:
            waitlisted += count
    people: list[Face] = []
    if faces and by_channel:
        going = await session.execute(
            select(Registration.name, MemberIdentity.photo_url)
            # The photo of the identity the seat was taken with (Meetup's, for a Meetup RSVP).
            .outerjoin(
                MemberIdentity,
                (MemberIdentity.member_id == Registration.member_id)
                & (MemberIdentity.platform == Registration.channel),
            )
            .where(
                Registration.event_id == event_id,
                Registration.status == RegistrationStatus.CONFIRMED,
                Registration.guest_of_id.is_(None),  # faces of people, not guest seats
            )
            .order_by(Registration.created_at.desc())
            .limit(faces)
        )
        people = [Face(initial_of(name), photo) for name, photo in going]
    return GoingCounts(by_channel, waitlisted, tuple(people))


# --- Seats --------------------------------------------------------------------------------


class SaleState(StrEnum):
    OPEN = "open"
    LIMITED = "limited"  # few seats left: schema.org LimitedAvailability
    WAITLIST = "waitlist"  # full, but joining the waitlist is possible
    SOLD_OUT = "sold_out"
    CLOSED = "closed"  # the organiser closed registration early
    ENDED = "ended"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Availability:
    capacity: int
    seats_left: int
    state: SaleState

    @property
    def can_register(self) -> bool:
        return self.state in (SaleState.OPEN, SaleState.LIMITED, SaleState.WAITLIST)

    @property
    def percent_taken(self) -> int:
        if self.capacity <= 0:
            return 100
        return round(100 * (self.capacity - self.seats_left) / self.capacity)


def limited_threshold(capacity: int) -> int:
    """Below this many seats left, the page (and JSON-LD) says availability is limited."""
    return max(3, capacity // 10)


def sale_state(
    event: Event, seats_left: int, *, is_open: bool = True, now: datetime | None = None
) -> Availability:
    now = now or datetime.now(UTC)
    seats_left = max(0, seats_left)
    if event.status == EventStatus.CANCELLED:
        state = SaleState.CANCELLED
    elif event_end(event) <= now:
        state = SaleState.ENDED
    elif not is_open:
        state = SaleState.CLOSED
    elif seats_left <= 0:
        state = SaleState.WAITLIST if event.soldout_mode == "waitlist" else SaleState.SOLD_OUT
    elif seats_left <= limited_threshold(event.capacity):
        state = SaleState.LIMITED
    else:
        state = SaleState.OPEN
    return Availability(event.capacity, seats_left, state)


def ledger_seats_left(event: Event, counts: GoingCounts) -> int:
    """Seats a native registration could still take: C - n_int - n_ext, from the ledger."""
    return max(0, event.capacity - counts.total)


async def availability(
    redis: Redis, settings: Settings, event: Event, going: GoingCounts
) -> Availability:
    """Seats left as the Traffic Cop sees them; the ledger answers while Redis is cold."""
    seats_left, is_open = ledger_seats_left(event, going), True
    if event.status == EventStatus.PUBLISHED:
        counts = await Inventory(redis, settings.redis_prefix).counts(event.id)
        if isinstance(counts, Counts):
            seats_left, is_open = counts.native_left, counts.open
    return sale_state(event, seats_left, is_open=is_open)


# --- The page's view of an event ------------------------------------------------------------


@dataclass(frozen=True)
class EventView:
    """Everything templates, JSON-LD and calendars need, computed once per request."""

    event: Event
    url: str
    theme: str
    description_html: str
    description_text: str
    meta_description: str
    start_local: datetime
    end_local: datetime
    tz_label: str
    date_label: str  # "Thursday, 11 December 2026"
    time_label: str  # "18:00 - 21:00 CET", with an en dash
    month_short: str
    day_number: str
    is_online: bool
    has_venue: bool
    location_line: str
    map_url: str
    price_label: str
    host_name: str

    @property
    def slug(self) -> str:
        return self.event.slug

    @property
    def is_paid(self) -> bool:
        """Tickets are bought on the checkout step (a hold, then Stripe)."""
        return is_paid(self.event)

    @property
    def refund_rule(self) -> str:
        return refund_rule_text(self.event)

    @property
    def title(self) -> str:
        return self.event.title

    @property
    def map_embed(self) -> str:
        """An OpenStreetMap map of the venue, loaded only when the visitor asks for it."""
        lat, lon = self.event.latitude, self.event.longitude
        if lat is None or lon is None or not self.has_venue:
            return ""
        box = f"{lon - 0.004:.5f},{lat - 0.0025:.5f},{lon + 0.004:.5f},{lat + 0.0025:.5f}"
        return (
            "https://www.openstreetmap.org/export/embed.html?"
            f"bbox={box}&layer=mapnik&marker={lat:.5f},{lon:.5f}"
        )


def _time_range(start: datetime, end: datetime) -> str:
    tz = start.strftime("%Z")
    if start.date() == end.date():
        return f"{start:%H:%M}{DASH}{end:%H:%M} {tz}".strip()
    return f"{start:%H:%M}{DASH}{end:%a %-d %b, %H:%M} {tz}".strip()


def place_line(event: Event) -> str:
    """Venue, address and city on one line, without saying anything twice."""
    parts: list[str] = []
    for part in (event.venue_name, event.address, event.city):
        if part and not any(part in seen for seen in parts):
            parts = [seen for seen in parts if seen not in part]  # "Hall" inside "Hall, 1 St"
            parts.append(part)
    return ", ".join(parts)


def map_link(event: Event) -> str:
    if event.latitude is not None and event.longitude is not None:
        return (
            "https://www.openstreetmap.org/?mlat="
            f"{event.latitude:.5f}&mlon={event.longitude:.5f}#map=17/"
            f"{event.latitude:.5f}/{event.longitude:.5f}"
        )
    place = ", ".join(p for p in (event.venue_name, event.address, event.city) if p)
    return f"https://www.openstreetmap.org/search?query={quote_plus(place)}" if place else ""


def price_label(event: Event) -> str:
    return price_text(event)


def build_view(event: Event, base_url: str, *, theme: str | None = None) -> EventView:
    tz = zone(event.timezone)
    start = event.starts_at.astimezone(tz)
    end = event_end(event).astimezone(tz)
    text = plain_text(event.description_md)
    has_venue = bool(event.venue_name or event.address)
    location = place_line(event)
    return EventView(
        event=event,
        url=f"{base_url}/events/{event.slug}",
        theme=theme or (event.theme if event.theme in set(Theme) else DEFAULT_THEME),
        description_html=render_markdown(event.description_md),
        description_text=text,
        meta_description=shorten(event.summary or text or event.title, 160),
        start_local=start,
        end_local=end,
        tz_label=event.timezone,
        date_label=f"{start:%A, %-d %B %Y}",
        time_label=_time_range(start, end),
        month_short=f"{start:%b}".upper(),
        day_number=f"{start:%-d}",
        is_online=bool(event.online_url),
        has_venue=has_venue,
        location_line=location or ("Online" if event.online_url else "To be announced"),
        map_url=map_link(event) if has_venue else "",
        price_label=price_label(event),
        host_name=event.organiser_name or event.group_name or "The organisers",
    )


async def going_totals(session: AsyncSession, event_ids: list[UUID]) -> dict[UUID, int]:
    """Confirmed people per event, for the list of upcoming events (one query for all)."""
    if not event_ids:
        return {}
    rows = await session.execute(
        select(Registration.event_id, func.count())
        .where(
            Registration.event_id.in_(event_ids),
            Registration.status == RegistrationStatus.CONFIRMED,
        )
        .group_by(Registration.event_id)
    )
    return {event_id: count for event_id, count in rows}
