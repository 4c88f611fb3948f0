"""Luma stand-in: current ``/v1/events/...`` paths, ``x-luma-api-key`` scoped to one calendar.

Behaviour per docs/platforms.md (Luma): ``events/get`` exposes neither capacity nor counts; past
``max_capacity`` a registration joins the waitlist when the event's waitlist is enabled and
is refused otherwise (hosts move people off the waitlist; nothing is promoted by itself);
guests page as ``{entries, has_more, next_cursor}``; 429 past 200 calls a minute; ``guest.*``
webhooks carry ``{type, data}``, signed only if a signature header name is configured (the
real scheme is unknown).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from litestar import Request, get, post

from community.sandbox.common import SandboxPlatform
from community.sandbox.faults import WindowQuota
from community.sandbox.shapes import (
    Outcome,
    Person,
    Reply,
    SandboxHTTPError,
    SeedEvent,
    now,
    read_json,
    require,
)

ACTIVE = ("approved", "waitlist", "pending_approval")
STATUSES = ("approved", "declined", "pending_approval", "waitlist")
SORT_COLUMNS = ("registered_at", "created_at", "name", "email", "checked_in_at")
MAX_PAGE = 100
_UPDATE_FIELDS = {
    "event_id",
    "max_capacity",
    "name",
    "description_md",
    "start_at",
    "end_at",
    "timezone",
    "meeting_url",
    "visibility",
    "suppress_notifications",
}
_CREATE_FIELDS = {
    "name",
    "start_at",
    "end_at",
    "timezone",
    "description_md",
    "geo_address_json",
    "meeting_url",
    "max_capacity",
    "visibility",
    "slug",
    "cover_url",
    "reminders_disabled",
    "show_guest_list",
}


def _luma_id(prefix: str) -> str:
    alphabet = string.ascii_letters + string.digits
    return f"{prefix}-" + "".join(secrets.choice(alphabet) for _ in range(14))


def _stamp(value: datetime | None) -> str | None:
    return (
        value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        if value
        else None
    )


@dataclass
class Guest:
    id: str
    user_id: str
    email: str | None
    name: str
    approval_status: str
    registered_at: datetime
    ticket_id: str
    checked_in_at: datetime | None = None
    tickets: int = 1  # several tickets per guest (can_register_for_multiple_tickets)


@dataclass
class LumaEvent:
    id: str
    calendar_id: str
    name: str
    description_md: str
    start_at: datetime
    end_at: datetime
    timezone: str
    geo: dict[str, Any] | None
    coordinate: dict[str, float] | None
    meeting_url: str | None
    cover_url: str | None
    waitlist_status: str = "enabled"
    max_capacity: int | None = None
    visibility: str = "public"
    ticket_type_id: str = field(default_factory=lambda: _luma_id("ttype"))
    slug: str = field(default_factory=lambda: secrets.token_hex(4))  # the public lu.ma/<slug>
    guests: dict[str, Guest] = field(default_factory=dict)

    def count(self, status: str) -> int:
        """Tickets, not guests: with several tickets per guest each one counts."""
        return sum(g.tickets for g in self.guests.values() if g.approval_status == status)


class LumaSandbox(SandboxPlatform):
    name = "luma"
    api_prefixes = ("/v1/", "/v2/")

    def __init__(
        self,
        *,
        api_key: str = "sandbox-luma-key",
        calendar_id: str = "cal-sandbox",
        other_keys: dict[str, str] | None = None,
        signature_header: str | None = None,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(webhook_transport=webhook_transport)
        self.api_key = api_key
        self.calendar_id = calendar_id
        self.api_keys = {api_key: calendar_id, **(other_keys or {})}
        self.signature_header = signature_header
        self.events: dict[str, LumaEvent] = {}
        self.webhook_subscriptions: dict[str, dict[str, Any]] = {}
        self.user = {
            "id": "usr-sandboxorganiser",
            "name": "Sandbox Organiser",
            "email": "organiser@example.org",
            "first_name": "Sandbox",
            "last_name": "Organiser",
            "avatar_url": None,
        }

    def credentials(self) -> dict[str, str]:
        return {"api_key": self.api_key, "calendar_id": self.calendar_id}

    # -- gate hooks ------------------------------------------------------------------------

    def default_budget(self) -> WindowQuota:
        return WindowQuota(200, 60.0)

    def authorized(self, headers: dict[str, str], query: str) -> Reply | None:
        if headers.get("x-luma-api-key") in self.api_keys:
            return None
        return self.error_reply(401, "Invalid or missing API key.")

    def error_reply(self, status: int, message: str, code: str | None = None) -> Reply:
        return Reply(status, {"message": message})

    def rate_limited_reply(self, reset_in: float) -> Reply:
        headers = {"Retry-After": str(max(1, math.ceil(reset_in)))}
        return Reply(429, {"message": "Rate limit exceeded. Please wait a minute."}, headers)

    # -- routes ------------------------------------------------------------------------------

    def _calendar(self, request: Request[Any, Any, Any]) -> str:
        return self.api_keys[request.headers.get("x-luma-api-key", "")]

    def _scoped(self, request: Request[Any, Any, Any], event_id: Any) -> LumaEvent:
        require(isinstance(event_id, str) and event_id != "", 400, "event_id is required.")
        event = self.events.get(event_id)
        # A key manages only its own calendar's events; others look like they do not exist.
        if event is None or event.calendar_id != self._calendar(request):
            raise SandboxHTTPError(404, "Event not found.")
        return event

    def api_handlers(self) -> list[Any]:
        sb = self

        @get("/v1/users/get-self", sync_to_thread=False)
        def get_self() -> dict[str, Any]:
            return sb.user

        @get("/v1/events/get", sync_to_thread=False)
        def read_event(request: Request[Any, Any, Any]) -> dict[str, Any]:
            return sb._event_json(sb._scoped(request, request.query_params.get("event_id")))

        @post("/v1/events/update", status_code=200)
        async def update_event(request: Request[Any, Any, Any]) -> dict[str, Any]:
            body = await read_json(request)
            require(isinstance(body, dict), 400, "Send a JSON object.")
            unknown = set(body) - _UPDATE_FIELDS
            require(not unknown, 400, f"Unknown fields: {', '.join(sorted(unknown))}.")
            event = sb._scoped(request, body.get("event_id"))
            if "max_capacity" in body:
                capacity = body["max_capacity"]
                valid = capacity is None or (
                    isinstance(capacity, int) and not isinstance(capacity, bool) and capacity >= 0
                )
                require(valid, 400, "max_capacity must be a whole number or null.")
                event.max_capacity = capacity
            if isinstance(body.get("name"), str) and body["name"].strip():
                event.name = body["name"]
            if isinstance(body.get("description_md"), str):
                event.description_md = body["description_md"]
            return {}

        @post("/v1/events/create", status_code=200)
        async def create_event(request: Request[Any, Any, Any]) -> dict[str, Any]:
            return {"id": sb._create(await read_json(request), sb._calendar(request))}

        @get("/v1/calendars/events/list", sync_to_thread=False)
        def list_calendar_events(request: Request[Any, Any, Any]) -> dict[str, Any]:
            calendar = sb._calendar(request)
            events = sorted(
                (e for e in sb.events.values() if e.calendar_id == calendar),
                key=lambda e: (e.start_at, e.id),
            )
            return _paged(
                [{"api_id": e.id, "event": sb._event_json(e)} for e in events],
                request.query_params,
            )

        @get("/v1/events/guests/list", sync_to_thread=False)
        def list_guests(request: Request[Any, Any, Any]) -> dict[str, Any]:
            query = request.query_params
            return sb._guest_page(sb._scoped(request, query.get("event_id")), query)

        @get("/v1/events/guests/get", sync_to_thread=False)
        def read_guest(request: Request[Any, Any, Any]) -> dict[str, Any]:
            event = sb._scoped(request, request.query_params.get("event_id"))
            return sb._guest_json(sb._find_guest(event, request.query_params.get("id")))

        @post("/v1/events/guests/update-status", status_code=200)
        async def update_status(request: Request[Any, Any, Any]) -> dict[str, Any]:
            body = await read_json(request)
            require(isinstance(body, dict), 400, "Send a JSON object.")
            event = sb._scoped(request, body.get("event_id"))
            guest = sb._find_guest(event, body.get("guest_id"))
            require(
                body.get("status") in STATUSES, 400, f"status must be one of {', '.join(STATUSES)}."
            )
            guest.approval_status = body["status"]
            sb._notify(event, guest, "guest.updated")
            return {}

        @post("/v2/webhooks/create", status_code=200)
        async def create_webhook(request: Request[Any, Any, Any]) -> dict[str, Any]:
            body = await read_json(request)
            require(
                isinstance(body, dict) and isinstance(body.get("url"), str), 400, "url is required."
            )
            types = body.get("event_types") or ["*"]
            require(
                isinstance(types, list) and all(isinstance(t, str) for t in types),
                400,
                "event_types must be a list of strings.",
            )
            hook = {
                "id": _luma_id("wh"),
                "url": body["url"],
                "event_types": types,
                "status": "active",
                "secret": secrets.token_hex(16),
                "created_at": _stamp(now()),
                "calendar_id": sb._calendar(request),
            }
            sb.webhook_subscriptions[hook["id"]] = hook
            return _public_hook(hook)

        @post("/v2/webhooks/update", status_code=200)
        async def update_webhook(request: Request[Any, Any, Any]) -> dict[str, Any]:
            body = await read_json(request)
            hook = sb._hook(request, body.get("id") if isinstance(body, dict) else None)
            if body.get("status") in ("active", "paused"):
                hook["status"] = body["status"]
            if isinstance(body.get("event_types"), list):
                hook["event_types"] = [str(t) for t in body["event_types"]]
            return _public_hook(hook)

        @get("/v2/webhooks/get", sync_to_thread=False)
        def read_webhook(request: Request[Any, Any, Any]) -> dict[str, Any]:
            return _public_hook(sb._hook(request, request.query_params.get("id")))

        @get("/v1/webhooks/list", sync_to_thread=False)
        def list_webhooks(request: Request[Any, Any, Any]) -> dict[str, Any]:
            calendar = sb._calendar(request)
            hooks = [h for h in sb.webhook_subscriptions.values() if h["calendar_id"] == calendar]
            return {"entries": [_public_hook(h) for h in hooks], "has_more": False}

        @post("/v1/webhooks/delete", status_code=200)
        async def delete_webhook(request: Request[Any, Any, Any]) -> dict[str, Any]:
            body = await read_json(request)
            hook = sb._hook(request, body.get("id") if isinstance(body, dict) else None)
            del sb.webhook_subscriptions[hook["id"]]
            return {}

        return [
            get_self,
            read_event,
            list_calendar_events,
            update_event,
            create_event,
            list_guests,
            read_guest,
            update_status,
            create_webhook,
            update_webhook,
            read_webhook,
            list_webhooks,
            delete_webhook,
        ]

    def _hook(self, request: Request[Any, Any, Any], hook_id: Any) -> dict[str, Any]:
        hook = self.webhook_subscriptions.get(str(hook_id))
        if hook is None or hook["calendar_id"] != self._calendar(request):
            raise SandboxHTTPError(404, "Webhook not found.")
        return hook

    def _find_guest(self, event: LumaEvent, key: Any) -> Guest:
        """By gst- id or e-mail, as the real endpoint accepts."""
        require(isinstance(key, str) and key != "", 400, "A guest id or e-mail is required.")
        for guest in event.guests.values():
            if key in (guest.id, guest.ticket_id) or (guest.email or "").lower() == key.lower():
                return guest
        raise SandboxHTTPError(404, "Guest not found.")

    def _create(self, body: Any, calendar_id: str) -> str:
        require(isinstance(body, dict), 400, "Send a JSON object.")
        unknown = set(body) - _CREATE_FIELDS
        require(not unknown, 400, f"Unknown fields: {', '.join(sorted(unknown))}.")
        for key in ("name", "start_at", "timezone"):
            require(isinstance(body.get(key), str) and body[key] != "", 400, f"{key} is required.")
        try:
            start = datetime.fromisoformat(body["start_at"].replace("Z", "+00:00"))
            end_text = body.get("end_at")
            end = datetime.fromisoformat(end_text.replace("Z", "+00:00")) if end_text else None
        except (ValueError, AttributeError) as exc:
            raise SandboxHTTPError(400, "start_at and end_at must be ISO-8601 times.") from exc
        try:
            ZoneInfo(body["timezone"])
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SandboxHTTPError(400, "timezone must be an IANA time zone.") from exc
        geo = (
            body.get("geo_address_json") if isinstance(body.get("geo_address_json"), dict) else None
        )
        seed = SeedEvent(
            title=body["name"],
            description=str(body.get("description_md") or ""),
            starts_at=start if start.tzinfo else start.replace(tzinfo=UTC),
            ends_at=end if end is None or end.tzinfo else end.replace(tzinfo=UTC),
            timezone=body["timezone"],
            venue_name=(geo or {}).get("address"),
            online_url=body.get("meeting_url"),
            limit=body.get("max_capacity"),
        )
        event_id = self.seed_event(seed)
        self.events[event_id].calendar_id = calendar_id
        if isinstance(body.get("slug"), str) and body["slug"].strip():
            self.events[event_id].slug = body["slug"].strip()
        return event_id

    # -- JSON shapes ---------------------------------------------------------------------------

    def _event_json(self, event: LumaEvent) -> dict[str, Any]:
        location = "offline" if event.geo else ("zoom" if event.meeting_url else "missing")
        duration = event.end_at - event.start_at
        return {
            "platform": "luma",
            "id": event.id,
            "user_id": self.user["id"],
            "calendar_id": event.calendar_id,
            "name": event.name,
            "description": event.description_md,
            "description_md": event.description_md,
            "start_at": _stamp(event.start_at),
            "end_at": _stamp(event.end_at),
            "duration_interval": f"PT{int(duration.total_seconds() // 60)}M",
            "timezone": event.timezone,
            "geo_address_json": event.geo,
            "coordinate": event.coordinate,
            "location_type": location,
            "location_visibility": "public",
            "meeting_url": event.meeting_url,
            "cover_url": event.cover_url,
            "url": f"{self.public_url}/{event.slug}",
            "visibility": event.visibility,
            "waitlist_status": event.waitlist_status,
            "registration_questions": [],
            "hosts": [
                {"id": self.user["id"], "email": self.user["email"], "name": self.user["name"]}
            ],
        }

    def _guest_json(self, guest: Guest, event: LumaEvent | None = None) -> dict[str, Any]:
        first, _, last = guest.name.partition(" ")
        ticket = {
            "id": guest.ticket_id,
            "name": "Standard",
            "event_ticket_type_id": "",
            "checked_in_at": _stamp(guest.checked_in_at),
            "amount": 0,
            "currency": None,
        }
        if event is not None:
            ticket["event_ticket_type_id"] = event.ticket_type_id
        return {
            "id": guest.id,
            "user_id": guest.user_id,
            "user_email": guest.email,
            "user_name": guest.name,
            "user_first_name": first,
            "user_last_name": last,
            "approval_status": guest.approval_status,
            "registered_at": _stamp(guest.registered_at),
            "invited_at": None,
            "joined_at": _stamp(guest.checked_in_at),
            "phone_number": None,
            "check_in_qr_code": f"{self.public_url}/check-in/{guest.ticket_id}",
            "utm_source": None,
            "registration_answers": [],
            "event_tickets": [
                ticket | {"id": guest.ticket_id if n == 0 else f"{guest.ticket_id}-{n}"}
                for n in range(guest.tickets)
            ],
        }

    def _guest_page(self, event: LumaEvent, query: Any) -> dict[str, Any]:
        status = query.get("approval_status")
        require(
            status is None or status in (*STATUSES, "invited", "session"),
            400,
            "Unknown approval_status.",
        )
        column = query.get("sort_column") or "created_at"
        require(
            column in SORT_COLUMNS, 400, f"sort_column must be one of {', '.join(SORT_COLUMNS)}."
        )
        direction = query.get("sort_direction") or "asc"
        require(direction in ("asc", "desc"), 400, "sort_direction must be asc or desc.")
        limit_text = query.get("pagination_limit") or "50"
        require(
            limit_text.isdigit() and int(limit_text) >= 1,
            400,
            "pagination_limit must be a positive whole number.",
        )
        limit = min(int(limit_text), MAX_PAGE)

        def key(guest: Guest) -> tuple[str, str]:
            value = {
                "name": guest.name.lower(),
                "email": (guest.email or "").lower(),
                "checked_in_at": _stamp(guest.checked_in_at) or "",
            }.get(column, guest.registered_at.isoformat())
            return (value, guest.id)

        guests = [g for g in event.guests.values() if status is None or g.approval_status == status]
        guests.sort(key=key, reverse=direction == "desc")
        cursor = query.get("pagination_cursor")
        if cursor:
            mark = _decode_cursor(cursor)
            guests = [
                g for g in guests if (key(g) < mark if direction == "desc" else key(g) > mark)
            ]
        page = guests[:limit]
        more = len(guests) > limit
        return {
            "entries": [self._guest_json(g, event) for g in page],
            "has_more": more,
            "next_cursor": _encode_cursor(key(page[-1])) if more else None,
        }

    # -- control operations ------------------------------------------------------------------

    def seed_event(self, seed: SeedEvent) -> str:
        geo = None
        if seed.venue_name or seed.address:
            full = ", ".join(
                p for p in (seed.venue_name, seed.address, seed.city, seed.country) if p
            )
            geo = {
                "address": seed.venue_name or seed.address,
                "city": seed.city,
                "region": None,
                "country": seed.country,
                "full_address": full,
                "google_maps_place_id": None,
            }
        coordinate = None
        if seed.lat is not None and seed.lon is not None:
            coordinate = {"latitude": seed.lat, "longitude": seed.lon}
        event = LumaEvent(
            id=_luma_id("evt"),
            calendar_id=self.calendar_id,
            name=seed.title,
            description_md=seed.description,
            start_at=seed.starts_at,
            end_at=seed.end,
            timezone=seed.timezone,
            geo=geo,
            coordinate=coordinate,
            meeting_url=seed.online_url,
            cover_url=seed.cover_url,
            waitlist_status="enabled" if seed.waitlist else "disabled",
            max_capacity=seed.limit,
        )
        self.events[event.id] = event
        return event.id

    def _event(self, event_id: str) -> LumaEvent:
        event = self.events.get(event_id)
        if event is None:
            raise SandboxHTTPError(404, "Event not found.")
        return event

    def add_registration(self, event_id: str, person: Person) -> Outcome:
        event = self._event(event_id)
        email = (person.email or "").lower()
        user_id = person.member_id or (
            "usr-" + hashlib.sha256((email or person.name).encode()).hexdigest()[:14]
        )
        existing = next((g for g in event.guests.values() if g.user_id == user_id), None)
        if existing and existing.approval_status in ACTIVE:
            status = "going" if existing.approval_status == "approved" else "waitlist"
            return Outcome(status, existing.id, "already registered")
        tickets = 1 + person.guests
        full = (
            event.max_capacity is not None
            and event.count("approved") + tickets > event.max_capacity
        )
        if full and event.waitlist_status != "enabled":
            return Outcome("refused", None, "This event is sold out.")
        guest = existing or Guest(
            _luma_id("gst"), user_id, person.email, person.name, "approved", now(), _luma_id("tkt")
        )
        guest.approval_status = "waitlist" if full else "approved"
        guest.registered_at = now()
        guest.tickets = tickets
        event.guests[guest.id] = guest
        self._notify(event, guest, "guest.registered")
        self._notify(event, guest, "guest.updated")
        return Outcome("waitlist" if full else "going", guest.id)

    def cancel_registration(self, event_id: str, registration_id: str) -> dict[str, Any]:
        event = self._event(event_id)
        guest = self._find_guest(event, registration_id)
        guest.approval_status = "declined"
        self._notify(event, guest, "guest.updated")
        return self._guest_json(guest, event)

    def check_in(self, event_id: str, registration_id: str) -> dict[str, Any]:
        event = self._event(event_id)
        guest = self._find_guest(event, registration_id)
        require(guest.approval_status == "approved", 400, "Only approved guests can check in.")
        guest.checked_in_at = now()
        self._notify(event, guest, "guest.updated")
        return self._guest_json(guest, event)

    def _notify(self, event: LumaEvent, guest: Guest, kind: str) -> None:
        for hook in self.webhook_subscriptions.values():
            wanted = kind in hook["event_types"] or "*" in hook["event_types"]
            if not wanted or hook["status"] != "active" or hook["calendar_id"] != event.calendar_id:
                continue
            data = self._guest_json(guest, event) | {"event": self._event_json(event)}
            payload = {"type": kind, "data": data}
            headers = {}
            if self.signature_header:
                digest = hmac.new(
                    hook["secret"].encode(), json.dumps(payload).encode(), hashlib.sha256
                )
                headers[self.signature_header] = digest.hexdigest()
            self.webhooks.send(hook["url"], payload, headers)

    def event_ids(self) -> list[str]:
        return list(self.events)

    def event_state(self, event_id: str) -> dict[str, Any]:
        event = self._event(event_id)
        going = event.count("approved")
        full = event.max_capacity is not None and going >= event.max_capacity
        return {
            "id": event.id,
            "title": event.name,
            "limit": event.max_capacity,
            "open": not full or event.waitlist_status == "enabled",
            "waitlist_status": event.waitlist_status,
            "going": going,
            "waitlist": event.count("waitlist"),
            "cancelled": event.count("declined"),
            "registrations": [
                {"id": g.id, "name": g.name, "email": g.email, "status": g.approval_status}
                for g in event.guests.values()
            ],
        }


def _paged(entries: list[dict[str, Any]], query: Any) -> dict[str, Any]:
    """Offset pages behind an opaque cursor, ``{entries, has_more, next_cursor}``."""
    limit_text = query.get("pagination_limit") or "50"
    require(limit_text.isdigit() and int(limit_text) >= 1, 400, "Bad pagination_limit.")
    limit = min(int(limit_text), MAX_PAGE)
    cursor = query.get("pagination_cursor")
    start = int(_decode_cursor(cursor)[0]) if cursor else 0
    page = entries[start : start + limit]
    more = start + limit < len(entries)
    return {
        "entries": page,
        "has_more": more,
        "next_cursor": _encode_cursor((str(start + limit), "")) if more else None,
    }


def _public_hook(hook: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in hook.items() if k != "calendar_id"}


def _encode_cursor(key: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        value, guest_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return str(value), str(guest_id)
    except (ValueError, TypeError) as exc:
        raise SandboxHTTPError(400, "Invalid pagination cursor.") from exc
