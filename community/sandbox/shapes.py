"""The shapes the stand-ins and their control endpoints share: seeds, people, replies, errors.

Kept apart from the stand-ins themselves (sandbox.common) so the control endpoints
(sandbox.control) read them without importing the platform they control.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from litestar import Request, Response

OutcomeStatus = Literal["going", "waitlist", "refused"]


def now() -> datetime:
    return datetime.now(UTC)


class SandboxHTTPError(Exception):
    """Raised by handlers; rendered in the platform's own error shape."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    def response(self) -> Response[Any]:
        return Response(content=self.body, status_code=self.status, headers=self.headers)


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    email: str | None = None
    member_id: str | None = None
    # People they bring: Meetup guests, extra tickets of one Eventbrite order, Luma tickets.
    guests: int = 0
    # The member's profile photo, where the platform has one (Meetup's memberPhoto).
    photo_url: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> Person:
        if not isinstance(data, dict):
            raise SandboxHTTPError(400, "Send a JSON object with at least a name.")
        name, email, member_id = data.get("name"), data.get("email"), data.get("member_id")
        if not isinstance(name, str) or not name.strip():
            raise SandboxHTTPError(400, "name is required.")
        if email is not None and (not isinstance(email, str) or "@" not in email):
            raise SandboxHTTPError(400, "email must look like an e-mail address.")
        if member_id is not None and not isinstance(member_id, str | int):
            raise SandboxHTTPError(400, "member_id must be a string.")
        guests = data.get("guests", 0)
        if not isinstance(guests, int) or isinstance(guests, bool) or not 0 <= guests <= 50:
            raise SandboxHTTPError(400, "guests must be a whole number from 0 to 50.")
        photo = data.get("photo_url")
        if photo is not None and (not isinstance(photo, str) or not photo.startswith("https://")):
            raise SandboxHTTPError(400, "photo_url must be an https URL.")
        member = str(member_id) if member_id is not None else None
        return cls(name.strip(), email, member, guests, photo)


@dataclass(frozen=True, slots=True)
class Outcome:
    status: OutcomeStatus
    id: str | None = None
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, "id": self.id, "reason": self.reason}


def _default_start() -> datetime:
    day = now() + timedelta(days=7)
    return day.replace(hour=18, minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class SeedEvent:
    """An event as it exists on the platform before we touch it."""

    title: str = "Sandbox event"
    description: str = ""
    starts_at: datetime = field(default_factory=_default_start)
    ends_at: datetime | None = None
    timezone: str = "UTC"
    venue_name: str | None = None
    address: str | None = None
    city: str | None = None
    country: str | None = None
    lat: float | None = None
    lon: float | None = None
    online_url: str | None = None
    cover_url: str | None = None
    limit: int | None = None  # None = no limit on the platform
    waitlist: bool = True  # the platform's own waitlist setting (Meetup AUTO, Luma enabled)

    @property
    def end(self) -> datetime:
        return self.ends_at or self.starts_at + timedelta(hours=2)

    @classmethod
    def from_json(cls, data: Any) -> SeedEvent:
        if not isinstance(data, dict):
            raise SandboxHTTPError(400, "Send a JSON object describing the event.")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise SandboxHTTPError(400, f"Unknown fields: {', '.join(sorted(unknown))}.")
        values: dict[str, Any] = {}
        for key in ("title", "description", "timezone"):
            if key in data:
                values[key] = _text(data, key)
        for key in ("venue_name", "address", "city", "country", "online_url", "cover_url"):
            if data.get(key) is not None:
                values[key] = _text(data, key)
        for key in ("starts_at", "ends_at"):
            if data.get(key) is not None:
                values[key] = _instant(data, key)
        for key in ("lat", "lon"):
            if data.get(key) is not None:
                if not isinstance(data[key], int | float) or isinstance(data[key], bool):
                    raise SandboxHTTPError(400, f"{key} must be a number.")
                values[key] = float(data[key])
        if data.get("limit") is not None:
            limit = data["limit"]
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
                raise SandboxHTTPError(400, "limit must be a whole number, 0 or more.")
            values["limit"] = limit
        if "waitlist" in data:
            if not isinstance(data["waitlist"], bool):
                raise SandboxHTTPError(400, "waitlist must be true or false.")
            values["waitlist"] = data["waitlist"]
        seed = cls(**values)
        try:
            ZoneInfo(seed.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SandboxHTTPError(400, "timezone must be an IANA name.") from exc
        if seed.end <= seed.starts_at:
            raise SandboxHTTPError(400, "ends_at must be after starts_at.")
        return seed


def _text(data: dict[str, Any], key: str) -> str:
    if not isinstance(data[key], str):
        raise SandboxHTTPError(400, f"{key} must be a string.")
    return data[key]


def _instant(data: dict[str, Any], key: str) -> datetime:
    try:
        value = datetime.fromisoformat(str(data[key]).replace("Z", "+00:00"))
    except ValueError as exc:
        raise SandboxHTTPError(400, f"{key} must be an ISO-8601 date and time.") from exc
    if value.tzinfo is None:
        raise SandboxHTTPError(400, f"{key} needs a UTC offset.")
    return value


async def read_json(request: Request[Any, Any, Any]) -> Any:
    raw = await request.body()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise SandboxHTTPError(400, "The body is not valid JSON.") from exc


def require(condition: bool, status: int, message: str, code: str | None = None) -> None:
    if not condition:
        raise SandboxHTTPError(status, message, code)
