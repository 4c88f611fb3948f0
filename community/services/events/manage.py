"""Events as organisers manage them: validation, slugs, create, edit, publish, cancel.

Seat numbers (capacity, reserve, sold-out mode) change through the inventory service once an
event exists, so the Traffic Cop and the mirror hear about every change; here they are only
validated and set when the event is first created.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from community.config import StripeSettings
from community.models import (
    Allocation,
    Event,
    EventStatus,
    Registration,
    RegistrationStatus,
    SoldOutMode,
    Theme,
    User,
)
from community.services.payments.money import parse_amount, plain_decimal
from community.services.payments.prices import MAX_REFUND_DAYS, publish_problem

MAX_CAPACITY = 100_000
SLUG_MAX = 80


class InvalidInput(ValueError):
    """One or more fields are wrong; ``errors`` maps each field name to a sentence."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class EventStateError(ValueError):
    """The event cannot make this move from its current state (e.g. publishing a cancelled one)."""


# --- Parsing the form ----------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    max_len: int
    required: bool = False
    label: str = ""


# Every other text field is one line: it goes into mail subjects, headers and .ics lines.
MULTILINE_FIELDS = frozenset({"description_md"})
# Dates an event may have: far enough either way for any real event, and inside what every
# time zone, calendar and date sum (end = start + hours) can represent.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 12, 31, tzinfo=UTC)


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


def clean_text(name: str, text: str) -> str:
    return multi_line(text) if name in MULTILINE_FIELDS else one_line(text)


TEXT_FIELDS: dict[str, FieldSpec] = {
    "title": FieldSpec(200, True, "Title"),
    "summary": FieldSpec(300),
    "description_md": FieldSpec(20_000),
    "venue_name": FieldSpec(200),
    "address": FieldSpec(300),
    "city": FieldSpec(120),
    "organiser_name": FieldSpec(200),
    "group_name": FieldSpec(200),
}


def _text(form: Mapping[str, Any], name: str) -> str:
    """A field's text with control characters gone (see one_line and multi_line)."""
    value = form.get(name, "")
    return clean_text(name, value) if isinstance(value, str) else ""


def _url_field(value: str) -> str | None:
    """None when fine (empty or an http(s) link), else a sentence."""
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(value) > 500:
        return "Enter a full link starting with https://."
    return None


def parse_local_datetime(value: str, tz: ZoneInfo) -> datetime | None:
    """An <input type=datetime-local> value, read as wall-clock time in the event's zone."""
    try:
        naive = datetime.fromisoformat(value)
        if naive.tzinfo is not None:
            return naive.astimezone(UTC)
        return naive.replace(tzinfo=tz).astimezone(UTC)
    except (ValueError, OverflowError):  # year 9999 in UTC-11 lies past datetime.max
        return None


def _whole(value: str, field: str, errors: dict[str, str], low: int, high: int) -> int | None:
    if value == "":
        errors[field] = "Enter a number."
        return None
    try:
        number = int(value)
    except ValueError:
        errors[field] = "Enter a whole number, like 100."
        return None
    if not low <= number <= high:
        errors[field] = f"Enter a number from {low:,} to {high:,}."
        return None
    return number


TIMEZONES = frozenset(available_timezones())


def parse_event_form(form: Mapping[str, Any], *, with_seats: bool) -> dict[str, Any]:
    """Validated column values from the event form, or ``InvalidInput`` naming every bad field.

    ``with_seats`` covers capacity, reserve and sold-out mode: set on creation only.
    """
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name, spec in TEXT_FIELDS.items():
        text = _text(form, name)
        if spec.required and not text:
            errors[name] = f"{spec.label or name.title()} is required."
        elif len(text) > spec.max_len:
            errors[name] = f"Use at most {spec.max_len:,} characters (now {len(text):,})."
        values[name] = text

    tz_name = _text(form, "timezone") or "UTC"
    if tz_name not in TIMEZONES:
        errors["timezone"] = "Choose a time zone from the list, like Europe/Berlin."
        tz_name = "UTC"
    values["timezone"] = tz_name
    tz = ZoneInfo(tz_name)

    starts_raw, ends_raw = _text(form, "starts_at"), _text(form, "ends_at")
    starts_at = parse_local_datetime(starts_raw, tz) if starts_raw else None
    if starts_at is None:
        errors["starts_at"] = "Enter the date and time the event starts."
    elif not EARLIEST <= starts_at <= LATEST:
        errors["starts_at"] = f"Enter a date between {EARLIEST.year} and {LATEST.year}."
        starts_at = None
    ends_at = parse_local_datetime(ends_raw, tz) if ends_raw else None
    if ends_raw and ends_at is None:
        errors["ends_at"] = "Enter a valid end date and time, or leave it empty."
    elif ends_at and not EARLIEST <= ends_at <= LATEST:
        errors["ends_at"] = f"Enter a date between {EARLIEST.year} and {LATEST.year}."
        ends_at = None
    elif starts_at and ends_at and ends_at < starts_at:
        errors["ends_at"] = "The event must end after it starts."
    elif starts_at and ends_at and ends_at - starts_at > timedelta(days=31):
        errors["ends_at"] = "An event can last at most 31 days."
    values["starts_at"], values["ends_at"] = starts_at, ends_at

    country = _text(form, "country").upper()
    if country and not re.fullmatch(r"[A-Z]{2}", country):
        errors["country"] = "Use the two-letter country code, like DE or GB."
    values["country"] = country

    for name in ("online_url", "cover_image_url"):
        link = _text(form, name)
        if problem := _url_field(link):
            errors[name] = problem
        values[name] = link

    theme = _text(form, "theme") or Theme.MEETUP
    if theme not in set(Theme):
        errors["theme"] = "Choose the Meetup or the Luma look."
    values["theme"] = theme

    currency = (_text(form, "currency") or "EUR").upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        errors["currency"] = "Use a three-letter currency code, like EUR."
    values["currency"] = currency
    # In the currency's minor unit (cents), exactly: never through a float.
    price = parse_amount(_text(form, "price"), currency if "currency" not in errors else "EUR")
    if price is None:
        errors["price"] = "Enter a price like 12 or 12.50, or leave it empty for free."
    values["price_cents"] = price or 0
    refund_days = _text(form, "refund_days_before")
    values["refund_days_before"] = None
    if refund_days:
        days = _whole(refund_days, "refund_days_before", errors, 0, MAX_REFUND_DAYS)
        values["refund_days_before"] = days

    if with_seats:
        values.update(parse_seats(form, errors))
    if errors:
        raise InvalidInput(errors)
    return values


def parse_seats(
    form: Mapping[str, Any], errors: dict[str, str], *, taken: int = 0
) -> dict[str, Any]:
    """Capacity, native reserve, sold-out mode and allocation, with the inventory model's rules."""
    out: dict[str, Any] = {}
    capacity = _whole(_text(form, "capacity"), "capacity", errors, 0, MAX_CAPACITY)
    reserve_raw = _text(form, "native_reserve") or "0"
    reserve = _whole(reserve_raw, "native_reserve", errors, 0, MAX_CAPACITY)
    # Every rule is checked, so the organiser sees every problem at once.
    if capacity is not None and capacity < taken:
        errors["capacity"] = (
            f"{taken:,} people already hold a seat; capacity cannot go below {taken:,}."
        )
    if capacity is not None and reserve is not None and reserve > capacity:
        errors["native_reserve"] = f"The reserve cannot be more than the capacity ({capacity:,})."
    mode = _text(form, "soldout_mode") or SoldOutMode.SOLD_OUT
    if mode not in set(SoldOutMode):
        errors["soldout_mode"] = "Choose sold out or waitlist."
    allocation = _text(form, "allocation") or Allocation.STRICT
    if allocation not in set(Allocation):
        errors["allocation"] = "Choose how the listings share the seats: split or shared."
    out["capacity"], out["native_reserve"], out["soldout_mode"] = capacity, reserve, mode
    out["allocation"] = allocation
    return out


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


async def create_event(session: AsyncSession, values: Mapping[str, Any], owner: User) -> Event:
    event = Event(**values, slug=await unique_slug(session, values["title"]), owner_id=owner.id)
    session.add(event)
    await session.flush()
    return event


async def update_event(session: AsyncSession, event: Event, values: Mapping[str, Any]) -> Event:
    """Details only; a published event keeps its slug so shared links stay valid."""
    if event.status == EventStatus.CANCELLED:
        raise EventStateError("A cancelled event cannot be edited.")
    for key, value in values.items():
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


def form_values(event: Event) -> dict[str, str]:
    """The event as the form shows it: datetimes in the event's own wall-clock time."""
    tz = ZoneInfo(event.timezone) if event.timezone in TIMEZONES else ZoneInfo("UTC")

    def local(value: datetime | None) -> str:
        return value.astimezone(tz).strftime("%Y-%m-%dT%H:%M") if value else ""

    price = "" if not event.price_cents else plain_decimal(event.price_cents, event.currency)
    return {
        **{name: getattr(event, name) or "" for name in TEXT_FIELDS},
        "timezone": event.timezone,
        "starts_at": local(event.starts_at),
        "ends_at": local(event.ends_at),
        "country": event.country,
        "online_url": event.online_url,
        "cover_image_url": event.cover_image_url,
        "theme": event.theme,
        "price": price.removesuffix(".00"),
        "currency": event.currency,
        "refund_days_before": ""
        if event.refund_days_before is None
        else str(event.refund_days_before),
        "capacity": str(event.capacity),
        "native_reserve": str(event.native_reserve),
        "soldout_mode": event.soldout_mode,
        "allocation": event.allocation,
    }


def blank_form(default_tz: str = "Europe/Berlin") -> dict[str, str]:
    start = (datetime.now(UTC) + timedelta(days=14)).astimezone(ZoneInfo(default_tz))
    start = start.replace(hour=18, minute=30, second=0, microsecond=0)
    return {
        **dict.fromkeys(TEXT_FIELDS, ""),
        "timezone": default_tz,
        "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (start + timedelta(hours=2, minutes=30)).strftime("%Y-%m-%dT%H:%M"),
        "country": "",
        "online_url": "",
        "cover_image_url": "",
        "theme": Theme.MEETUP,
        "price": "",
        "currency": "EUR",
        "refund_days_before": "7",
        "capacity": "100",
        "native_reserve": "0",
        "soldout_mode": SoldOutMode.WAITLIST,
        "allocation": Allocation.STRICT,
    }


def preview_event(form: Mapping[str, Any], base: Event | None) -> Event:
    """A transient event for the theme preview: the form's values wherever they are valid.

    Never added to a session: the preview must not save anything.
    """
    source = form_values(base) if base is not None else blank_form()
    source["title"] = source["title"] or "Your event"
    candidate = {**source, **{k: v for k, v in form.items() if isinstance(v, str)}}
    candidate["title"] = _text(candidate, "title") or source["title"]
    values: dict[str, Any] | None = None
    for _ in range(3):  # a bad field falls back to the saved value; an end may then clash
        try:
            values = parse_event_form(candidate, with_seats=False)
            break
        except InvalidInput as exc:
            for name in exc.errors:
                candidate[name] = "" if name == "ends_at" else source.get(name, "")
    if values is None:
        values = parse_event_form(source, with_seats=False)
    return Event(
        **values,
        id=base.id if base is not None else uuid4(),
        slug=base.slug if base is not None else "preview",
        status=EventStatus.PUBLISHED,
        capacity=base.capacity if base is not None else 100,
        native_reserve=base.native_reserve if base is not None else 0,
        soldout_mode=base.soldout_mode if base is not None else SoldOutMode.SOLD_OUT,
    )
