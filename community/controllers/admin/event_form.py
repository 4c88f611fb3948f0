"""The admin's event form: read into validated values (services.events.manage's EventDetails
and EventSeats) with every bad field named at once, and an event shown as the form's text.

The rules of what an event may be (dates, capacity against the people already holding a
place) are checked here as the form is read; the services receive typed values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4
from zoneinfo import ZoneInfo, available_timezones

from community.models import Allocation, Event, EventStatus, SoldOutMode, Theme
from community.services.events.manage import (
    MAX_CAPACITY,
    EventDetails,
    EventSeats,
    InvalidInput,
    multi_line,
    one_line,
)
from community.services.payments.money import parse_amount, plain_decimal
from community.services.payments.prices import MAX_REFUND_DAYS


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


def parse_event_form(form: Mapping[str, Any]) -> EventDetails:
    """The event's details from the form, or ``InvalidInput`` naming every bad field."""
    errors: dict[str, str] = {}
    values = _details(form, errors)
    if errors:
        raise InvalidInput(errors)
    return EventDetails(**values)


def parse_new_event_form(form: Mapping[str, Any]) -> tuple[EventDetails, EventSeats]:
    """A new event's details and seats (set on creation only; later through the inventory),
    or ``InvalidInput`` naming every bad field of both."""
    errors: dict[str, str] = {}
    values = _details(form, errors)
    seats = _seats(form, errors)
    if errors:
        raise InvalidInput(errors)
    return EventDetails(**values), EventSeats(**seats)


def parse_seats(form: Mapping[str, Any], *, taken: int = 0) -> EventSeats:
    """The seats from the overview's inline form; capacity may not go below ``taken``, the
    people already holding a place (services.events.organiser_changes.seats_taken)."""
    errors: dict[str, str] = {}
    seats = _seats(form, errors, taken=taken)
    if errors:
        raise InvalidInput(errors)
    return EventSeats(**seats)


def _details(form: Mapping[str, Any], errors: dict[str, str]) -> dict[str, Any]:
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
    return values


def _seats(form: Mapping[str, Any], errors: dict[str, str], *, taken: int = 0) -> dict[str, Any]:
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


# --- Showing an event in the form ------------------------------------------------------------


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
    details: EventDetails | None = None
    for _ in range(3):  # a bad field falls back to the saved value; an end may then clash
        try:
            details = parse_event_form(candidate)
            break
        except InvalidInput as exc:
            for name in exc.errors:
                candidate[name] = "" if name == "ends_at" else source.get(name, "")
    if details is None:
        details = parse_event_form(source)
    return Event(
        **details.columns(),
        id=base.id if base is not None else uuid4(),
        slug=base.slug if base is not None else "preview",
        status=EventStatus.PUBLISHED,
        capacity=base.capacity if base is not None else 100,
        native_reserve=base.native_reserve if base is not None else 0,
        soldout_mode=base.soldout_mode if base is not None else SoldOutMode.SOLD_OUT,
    )
