"""Add to calendar: an iCalendar (.ics, RFC 5545) file and a Google Calendar link."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode, urlsplit

from community.models import Event, EventStatus
from community.services.events.manage import event_end
from community.services.events.text import plain_text, shorten
from community.views.event_pages import place_line


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _escape(text: str) -> str:
    """TEXT values: backslash, semicolon, comma and newlines are escaped (RFC 5545 3.3.11).

    A lone CR counts as a line break too; other control characters are not allowed in TEXT.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(
        ch for ch in text if ch == "\n" or ch == "\t" or (ord(ch) >= 32 and ch != "\x7f")
    )
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space, never mid-character."""
    out: list[str] = []
    current = b""
    for char in line:
        encoded = char.encode()
        limit = 75 if not out else 74  # continuation lines start with a space
        if len(current) + len(encoded) > limit:
            out.append(current.decode())
            current = b""
        current += encoded
    out.append(current.decode())
    return "\r\n ".join(out)


def location_text(event: Event) -> str:
    return place_line(event) or ("Online" if event.online_url else "")


def ics_for_event(
    event: Event,
    *,
    page_url: str,
    ticket_url: str = "",
    uid_domain: str = "",
    now: datetime | None = None,
) -> str:
    """One VEVENT in UTC (no VTIMEZONE needed); calendars show it in the reader's own zone."""
    now = now or datetime.now(UTC)
    domain = uid_domain or urlsplit(page_url).hostname or "localhost"
    description = shorten(event.summary or plain_text(event.description_md), 600)
    links = [f"Event page: {page_url}"]
    if ticket_url:
        links.append(f"Your ticket: {ticket_url}")
    if ticket_url and event.online_url:  # the joining link is for registered guests only
        links.append(f"Join online: {event.online_url}")
    cancelled = event.status == EventStatus.CANCELLED
    fields = [
        ("BEGIN", "VCALENDAR"),
        ("VERSION", "2.0"),
        ("PRODID", "-//Community events//Event page//EN"),
        ("CALSCALE", "GREGORIAN"),
        ("METHOD", "PUBLISH"),
        ("BEGIN", "VEVENT"),
        ("UID", f"{event.id}@{domain}"),
        ("DTSTAMP", _utc(now)),
        # A later SEQUENCE lets calendars replace an earlier download after a change.
        ("SEQUENCE", str(int((event.updated_at or now).timestamp()) // 60 % 2_000_000_000)),
        ("DTSTART", _utc(event.starts_at)),
        ("DTEND", _utc(event_end(event))),
        ("SUMMARY", _escape(event.title)),
        ("DESCRIPTION", _escape("\n\n".join([description, *links]).strip())),
        ("URL", page_url),
        ("STATUS", "CANCELLED" if cancelled else "CONFIRMED"),
    ]
    location = location_text(event)
    if location:
        fields.append(("LOCATION", _escape(location)))
    if event.latitude is not None and event.longitude is not None:
        fields.append(("GEO", f"{event.latitude:.6f};{event.longitude:.6f}"))
    if event.organiser_name:
        fields.append(("ORGANIZER;CN=" + _param(event.organiser_name), f"mailto:noreply@{domain}"))
    fields += [("END", "VEVENT"), ("END", "VCALENDAR")]
    return "".join(_fold(f"{name}:{value}") + "\r\n" for name, value in fields)


def _param(value: str) -> str:
    """A parameter value: quoted, without the characters a quoted value cannot hold."""
    return '"' + value.replace('"', "'").replace("\n", " ") + '"'


def google_calendar_url(event: Event, *, page_url: str) -> str:
    description = shorten(event.summary or plain_text(event.description_md), 300)
    params = {
        "action": "TEMPLATE",
        "text": event.title,
        "dates": f"{_utc(event.starts_at)}/{_utc(event_end(event))}",
        "details": f"{description}\n\n{page_url}".strip(),
        "location": location_text(event),
        "ctz": event.timezone or "UTC",
    }
    return "https://calendar.google.com/calendar/render?" + urlencode(params)
