"""Eventbrite stand-in: REST v3 with trailing slashes, POST updates, OAuth2 pages, webhooks.

Behaviour per docs/platforms.md (Eventbrite): the sellable quantity of a ticket class is the
smallest of event capacity, capacity-tier total and class capacity; lowering the tier below
what is sold gives ``CAPACITY_TOTAL_TOO_SMALL`` (the class gives ``BAD_QUANTITIES``,
undocumented upstream, configurable here); attendees page with ``continuation``; every answer
carries a waypoint token; registrations emit unsigned webhook POSTs pointing back at this
stand-in.
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from litestar import Request, delete, get, post

from community.platforms.convert import html_to_text
from community.sandbox.common import SandboxPlatform
from community.sandbox.faults import WindowQuota
from community.sandbox.oauth import OAuthServer, bearer_token
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

_EVENT_FIELDS = {
    "name",
    "summary",
    "description",
    "capacity",
    "listed",
    "online_event",
    "start",
    "end",
    "currency",
    "venue_id",
    "shareable",
    "invite_only",
    "show_remaining",
}
_CLASS_FIELDS = {
    "name",
    "free",
    "capacity",
    "quantity_total",
    "hidden",
    "description",
    "cost",
    "sales_start",
    "sales_end",
    "minimum_quantity",
    "maximum_quantity",
}
_DEFAULT_CODES = {
    400: "ARGUMENTS_ERROR",
    401: "NO_AUTH",
    403: "NOT_AUTHORIZED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "REQUEST_CONFLICT",
    429: "HIT_RATE_LIMIT",
}


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class TicketClass:
    id: str
    name: str
    capacity: int
    free: bool = True
    hidden: bool = False
    sold: int = 0


@dataclass
class Attendee:
    id: str
    order_id: str
    event_id: str
    ticket_class_id: str
    name: str
    email: str | None
    created: datetime
    changed: datetime
    cancelled: bool = False
    checked_in: bool = False


@dataclass
class EbEvent:
    id: str
    name: str
    summary: str
    description_html: str
    starts_at: datetime
    ends_at: datetime
    timezone: str
    venue_id: str | None
    online_event: bool
    logo_url: str | None
    currency: str = "EUR"
    status: str = "live"
    capacity: int | None = None  # event-level capacity; None = not custom
    tier_total: int | None = None  # capacity tier; None = not set
    waitlist_enabled: bool = False  # a UI setting; only readable through the API
    created: datetime = field(default_factory=now)
    ticket_classes: dict[str, TicketClass] = field(default_factory=dict)
    attendees: dict[str, Attendee] = field(default_factory=dict)

    @property
    def sold(self) -> int:
        return sum(tc.sold for tc in self.ticket_classes.values())

    def left(self, ticket_class: TicketClass) -> int:
        """What this class can still sell: the smallest of the three capacities."""
        left = [ticket_class.capacity - ticket_class.sold]
        if self.capacity is not None:
            left.append(self.capacity - self.sold)
        if self.tier_total is not None:
            left.append(self.tier_total - self.sold)
        return min(left)

    def sold_out(self) -> bool:
        visible = [tc for tc in self.ticket_classes.values() if not tc.hidden]
        return not any(self.left(tc) > 0 for tc in visible)


class EventbriteSandbox(SandboxPlatform):
    name = "eventbrite"
    api_prefixes = ("/v3/",)

    def __init__(
        self,
        *,
        client_id: str = "sandbox-eventbrite-client",
        client_secret: str = "sandbox-eventbrite-secret",
        access_token: str = "sandbox-eventbrite-token",
        page_size: int = 50,
        ticket_class_too_small_code: str = "BAD_QUANTITIES",
        webhook_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(webhook_transport=webhook_transport)
        self.oauth = OAuthServer(
            client_id=client_id,
            client_secret=client_secret,
            refreshable=False,
            expires_in=None,
            access_token=access_token,
            refresh_token=None,
        )
        self._initial_token = access_token
        self.page_size = page_size
        self.ticket_class_too_small_code = ticket_class_too_small_code
        # Globally unique like the real ids, so several stand-ins never collide.
        self._ids = itertools.count(700_000_000_001 + secrets.randbelow(90_000_000) * 1_000)
        self.user = {
            "id": "1234567890",
            "name": "Sandbox Organiser",
            "first_name": "Sandbox",
            "last_name": "Organiser",
            "emails": [{"email": "organiser@example.org", "verified": True, "primary": True}],
        }
        self.organization = {"id": str(next(self._ids)), "name": "Sandbox Community"}
        self.events: dict[str, EbEvent] = {}
        self.venues: dict[str, dict[str, Any]] = {}
        self.webhook_subscriptions: dict[str, dict[str, Any]] = {}

    def _new_id(self) -> str:
        return str(next(self._ids))

    def credentials(self) -> dict[str, str]:
        return {
            "client_id": self.oauth.client_id,
            "client_secret": self.oauth.client_secret,
            "access_token": self._initial_token,
            "organization_id": self.organization["id"],
        }

    def expire_tokens(self) -> None:
        self.oauth.expire_access_tokens()

    # -- gate hooks ------------------------------------------------------------------------

    def default_budget(self) -> WindowQuota:
        return WindowQuota(2000, 3600.0)

    def authorized(self, headers: dict[str, str], query: str) -> Reply | None:
        token = bearer_token(headers, query)
        if token is None:
            return self.error_reply(401, "An OAuth token is required for this request.", "NO_AUTH")
        if not self.oauth.valid(token):
            return self.error_reply(
                401, "The OAuth token you provided was invalid.", "INVALID_AUTH"
            )
        return None

    def error_reply(self, status: int, message: str, code: str | None = None) -> Reply:
        code = code or _DEFAULT_CODES.get(status, "INTERNAL_ERROR")
        body: dict[str, Any] = {"status_code": status, "error": code, "error_description": message}
        return Reply(status, body)

    def rate_limited_reply(self, reset_in: float) -> Reply:
        reply = self.error_reply(
            429, "You have hit the rate limit for this token.", "HIT_RATE_LIMIT"
        )
        used = f"{self.budget.used}/{self.budget.limit}"
        headers = {"x-rate-limit": f"token:sandbox {used} reset={max(1, round(reset_in))}s"}
        return Reply(429, reply.body, headers)

    def extra_headers(self) -> dict[str, str]:
        return {"Eventbrite-API-Waypoint-Token": secrets.token_hex(8)}

    def extra_handlers(self) -> list[Any]:
        return self.oauth.handlers("/oauth/authorize", "/oauth/token")

    # -- routes ------------------------------------------------------------------------------

    def api_handlers(self) -> list[Any]:
        sb = self

        @get("/v3/users/me/", sync_to_thread=False)
        def me() -> dict[str, Any]:
            return sb.user

        @get("/v3/users/me/organizations/", sync_to_thread=False)
        def organizations() -> dict[str, Any]:
            return {"pagination": _single_page(1), "organizations": [sb.organization]}

        @get("/v3/events/{event_id:str}/", sync_to_thread=False)
        def read_event(event_id: str, request: Request[Any, Any, Any]) -> dict[str, Any]:
            expand = set(filter(None, (request.query_params.get("expand") or "").split(",")))
            return sb._event_json(sb._event(event_id), expand)

        @post("/v3/events/{event_id:str}/", status_code=200)
        async def update_event(event_id: str, request: Request[Any, Any, Any]) -> dict[str, Any]:
            event = sb._event(event_id)
            changes = _wrapped(await read_json(request), "event", _EVENT_FIELDS)
            if "capacity" in changes:
                event.capacity = _capacity(
                    changes["capacity"],
                    "capacity",
                    event.sold,
                    "The capacity cannot be lower than the tickets already sold.",
                )
            if isinstance(changes.get("name"), dict):
                event.name = str(changes["name"].get("html") or event.name)
            if isinstance(changes.get("summary"), str):
                event.summary = changes["summary"][:140]
            return sb._event_json(event, set())

        @get("/v3/events/{event_id:str}/description/", sync_to_thread=False)
        def description(event_id: str) -> dict[str, Any]:
            return {"description": sb._event(event_id).description_html}

        @get("/v3/events/{event_id:str}/capacity_tier/", sync_to_thread=False)
        def read_tier(event_id: str) -> dict[str, Any]:
            return sb._tier_json(sb._event(event_id))

        @post("/v3/events/{event_id:str}/capacity_tier/", status_code=200)
        async def update_tier(event_id: str, request: Request[Any, Any, Any]) -> dict[str, Any]:
            event = sb._event(event_id)
            body = await read_json(request)
            require(isinstance(body, dict), 400, "Send a JSON object.", "INVALID_BODY")
            # The reference declares a wrapper but its examples are unwrapped: accept both.
            changes = body.get("capacity_tier", body)
            require(isinstance(changes, dict), 400, "capacity_tier must be an object.")
            if "capacity_total" in changes:
                event.tier_total = _capacity(
                    changes["capacity_total"],
                    "capacity_total",
                    event.sold,
                    "The capacity total is smaller than the tickets already sold.",
                )
            return sb._tier_json(event)

        @get("/v3/events/{event_id:str}/ticket_classes/", sync_to_thread=False)
        def list_classes(event_id: str) -> dict[str, Any]:
            event = sb._event(event_id)
            classes = [sb._class_json(event, tc) for tc in event.ticket_classes.values()]
            return {"pagination": _single_page(len(classes)), "ticket_classes": classes}

        @post("/v3/events/{event_id:str}/ticket_classes/", status_code=200)
        async def create_class(event_id: str, request: Request[Any, Any, Any]) -> dict[str, Any]:
            event = sb._event(event_id)
            changes = _wrapped(await read_json(request), "ticket_class", _CLASS_FIELDS)
            require(
                isinstance(changes.get("name"), str) and changes["name"].strip() != "",
                400,
                "A ticket class needs a name.",
            )
            capacity = changes.get("capacity", changes.get("quantity_total"))
            require(_count(capacity), 400, "A ticket class needs a capacity.", "NO_QUANTITY_TOTAL")
            tc = TicketClass(
                sb._new_id(),
                changes["name"],
                capacity,
                bool(changes.get("free", True)),
                bool(changes.get("hidden", False)),
            )
            event.ticket_classes[tc.id] = tc
            return sb._class_json(event, tc)

        @get("/v3/events/{event_id:str}/ticket_classes/{class_id:str}/", sync_to_thread=False)
        def read_class(event_id: str, class_id: str) -> dict[str, Any]:
            event = sb._event(event_id)
            return sb._class_json(event, sb._class(event, class_id))

        @post("/v3/events/{event_id:str}/ticket_classes/{class_id:str}/", status_code=200)
        async def update_class(
            event_id: str, class_id: str, request: Request[Any, Any, Any]
        ) -> dict[str, Any]:
            event = sb._event(event_id)
            tc = sb._class(event, class_id)
            changes = _wrapped(await read_json(request), "ticket_class", _CLASS_FIELDS)
            # quantity_total is deprecated in favour of capacity but still sent by clients.
            key = "capacity" if "capacity" in changes else "quantity_total"
            if key in changes:
                capacity = changes[key]
                require(_count(capacity), 400, f"{key} must be a whole number.", "ARGUMENTS_ERROR")
                require(
                    capacity >= tc.sold,
                    400,
                    "The quantity cannot be lower than the tickets already sold.",
                    sb.ticket_class_too_small_code,
                )
                tc.capacity = capacity
            if isinstance(changes.get("hidden"), bool):
                tc.hidden = changes["hidden"]
            if isinstance(changes.get("name"), str) and changes["name"].strip():
                tc.name = changes["name"]
            return sb._class_json(event, tc)

        @get("/v3/events/{event_id:str}/attendees/", sync_to_thread=False)
        def attendees(event_id: str, request: Request[Any, Any, Any]) -> dict[str, Any]:
            return sb._attendee_page(sb._event(event_id), request.query_params)

        @get("/v3/events/{event_id:str}/attendees/{attendee_id:str}/", sync_to_thread=False)
        def attendee(event_id: str, attendee_id: str) -> dict[str, Any]:
            event = sb._event(event_id)
            found = event.attendees.get(attendee_id)
            require(found is not None, 404, "The attendee does not exist.")
            return sb._attendee_json(event, found)  # type: ignore[arg-type]

        @get("/v3/orders/{order_id:str}/", sync_to_thread=False)
        def order(order_id: str, request: Request[Any, Any, Any]) -> dict[str, Any]:
            for event in sb.events.values():
                tickets = [a for a in event.attendees.values() if a.order_id == order_id]
                if tickets:
                    body = sb._order_json(event, order_id, tickets)
                    if "attendees" in (request.query_params.get("expand") or ""):
                        body["attendees"] = [sb._attendee_json(event, a) for a in tickets]
                    return body
            raise SandboxHTTPError(404, "The order does not exist.")

        @post("/v3/organizations/{org_id:str}/events/", status_code=200)
        async def create_event(org_id: str, request: Request[Any, Any, Any]) -> dict[str, Any]:
            sb._org(org_id)
            return sb._event_json(sb._create(await read_json(request)), set())

        @post("/v3/organizations/{org_id:str}/venues/", status_code=200)
        async def create_venue(org_id: str, request: Request[Any, Any, Any]) -> dict[str, Any]:
            sb._org(org_id)
            body = _wrapped(await read_json(request), "venue", {"name", "address", "capacity"})
            require(isinstance(body.get("name"), str), 400, "A venue needs a name.")
            address = body.get("address") if isinstance(body.get("address"), dict) else {}
            venue = sb._add_venue(body["name"], address)
            return venue

        @post("/v3/events/{event_id:str}/publish/", status_code=200, sync_to_thread=False)
        def publish(event_id: str) -> dict[str, Any]:
            event = sb._event(event_id)
            require(
                bool(event.ticket_classes),
                400,
                "Add a ticket class before publishing.",
                "COULD_NOT_PUBLISH",
            )
            event.status = "live"
            return {"published": True}

        @post("/v3/organizations/{org_id:str}/webhooks/", status_code=200)
        async def create_webhook(org_id: str, request: Request[Any, Any, Any]) -> dict[str, Any]:
            sb._org(org_id)
            body = await read_json(request)
            require(
                isinstance(body, dict) and isinstance(body.get("endpoint_url"), str),
                400,
                "endpoint_url is required.",
            )
            actions = body.get("actions") or ""
            require(isinstance(actions, str), 400, "actions is a comma-separated string.")
            hook = {
                "id": sb._new_id(),
                "endpoint_url": body["endpoint_url"],
                "actions": actions,
                "event_id": str(body.get("event_id") or ""),
                "created": _stamp(now()),
            }
            sb.webhook_subscriptions[hook["id"]] = hook
            return hook

        @get("/v3/organizations/{org_id:str}/webhooks/", sync_to_thread=False)
        def list_webhooks(org_id: str) -> dict[str, Any]:
            sb._org(org_id)
            hooks = list(sb.webhook_subscriptions.values())
            return {"pagination": _single_page(len(hooks)), "webhooks": hooks}

        @delete("/v3/webhooks/{hook_id:str}/", status_code=200, sync_to_thread=False)
        def delete_webhook(hook_id: str) -> dict[str, Any]:
            require(
                sb.webhook_subscriptions.pop(hook_id, None) is not None, 404, "No such webhook."
            )
            return {"success": True}

        return [
            me,
            organizations,
            read_event,
            update_event,
            description,
            read_tier,
            update_tier,
            list_classes,
            create_class,
            read_class,
            update_class,
            attendees,
            attendee,
            order,
            create_event,
            create_venue,
            publish,
            create_webhook,
            list_webhooks,
            delete_webhook,
        ]

    # -- lookups -------------------------------------------------------------------------------

    def _event(self, event_id: str) -> EbEvent:
        event = self.events.get(event_id)
        if event is None:
            raise SandboxHTTPError(404, "The event you requested does not exist.", "NOT_FOUND")
        return event

    def _class(self, event: EbEvent, class_id: str) -> TicketClass:
        tc = event.ticket_classes.get(class_id)
        if tc is None:
            raise SandboxHTTPError(404, "The ticket class does not exist.", "NOT_FOUND")
        return tc

    def _org(self, org_id: str) -> None:
        if org_id != self.organization["id"]:
            raise SandboxHTTPError(
                403, "You do not have permission to access this organization.", "NOT_AUTHORIZED"
            )

    def _add_venue(self, name: str, address: dict[str, Any]) -> dict[str, Any]:
        venue_id = self._new_id()
        parts = [address.get("address_1"), address.get("city"), address.get("country")]
        venue = {
            "id": venue_id,
            "name": name,
            "address": {
                "address_1": address.get("address_1"),
                "address_2": None,
                "city": address.get("city"),
                "region": None,
                "postal_code": None,
                "country": address.get("country"),
                "latitude": address.get("latitude"),
                "longitude": address.get("longitude"),
                "localized_address_display": ", ".join(str(p) for p in parts if p),
            },
        }
        self.venues[venue_id] = venue
        return venue

    def _create(self, body: Any) -> EbEvent:
        data = _wrapped(body, "event", _EVENT_FIELDS)
        name = data.get("name")
        require(isinstance(name, dict) and bool(name.get("html")), 400, "name.html is required.")
        start, end = data.get("start"), data.get("end")
        require(
            isinstance(start, dict) and isinstance(end, dict), 400, "start and end are required."
        )
        try:
            starts_at = datetime.fromisoformat(str(start["utc"]).replace("Z", "+00:00"))
            ends_at = datetime.fromisoformat(str(end["utc"]).replace("Z", "+00:00"))
            ZoneInfo(str(start["timezone"]))
        except (KeyError, ValueError) as exc:
            raise SandboxHTTPError(
                400, "start/end need utc and timezone.", "ARGUMENTS_ERROR"
            ) from exc
        require(ends_at > starts_at, 400, "The event must end after it starts.", "ARGUMENTS_ERROR")
        venue_id = data.get("venue_id")
        require(
            venue_id is None or venue_id in self.venues, 400, "Unknown venue.", "ARGUMENTS_ERROR"
        )
        require(
            not (venue_id and data.get("online_event")),
            400,
            "An event cannot have a venue and be online.",
            "VENUE_AND_ONLINE",
        )
        description = data.get("description") if isinstance(data.get("description"), dict) else {}
        event = EbEvent(
            id=self._new_id(),
            name=str(name["html"]),
            summary=str(data.get("summary") or "")[:140],
            description_html=str(description.get("html") or ""),
            starts_at=starts_at,
            ends_at=ends_at,
            timezone=str(start["timezone"]),
            venue_id=venue_id,
            online_event=bool(data.get("online_event")),
            logo_url=None,
            currency=str(data.get("currency") or "EUR"),
            status="draft",
            capacity=data.get("capacity") if _count(data.get("capacity")) else None,
        )
        self.events[event.id] = event
        return event

    # -- JSON shapes ---------------------------------------------------------------------------

    def _api_url(self, path: str) -> str:
        return f"{self.public_url}/v3/{path}"

    def _event_json(self, event: EbEvent, expand: set[str]) -> dict[str, Any]:
        tz = ZoneInfo(event.timezone)
        body: dict[str, Any] = {
            "id": event.id,
            "name": {"text": event.name, "html": event.name},
            "summary": event.summary,
            "description": {"text": _plain(event.description_html), "html": event.description_html},
            "url": f"{self.public_url}/e/{event.id}",
            "start": _when(event.starts_at, tz),
            "end": _when(event.ends_at, tz),
            "organization_id": self.organization["id"],
            "created": _stamp(event.created),
            "status": event.status,
            "currency": event.currency,
            "online_event": event.online_event,
            "listed": True,
            "capacity": event.capacity,
            "capacity_is_custom": event.capacity is not None,
            "venue_id": event.venue_id,
            "logo_id": "1" if event.logo_url else None,
            "resource_uri": self._api_url(f"events/{event.id}/"),
        }
        if "venue" in expand:
            body["venue"] = self.venues.get(event.venue_id or "")
        if "logo" in expand:
            logo = {"url": event.logo_url, "original": {"url": event.logo_url}}
            body["logo"] = logo if event.logo_url else None
        sold_out = event.sold_out()
        if "ticket_availability" in expand:
            body["ticket_availability"] = {
                "has_available_tickets": not sold_out,
                "is_sold_out": sold_out,
                "waitlist_available": event.waitlist_enabled and sold_out,
            }
        if "event_sales_status" in expand:
            body["event_sales_status"] = {"sales_status": "sold_out" if sold_out else "on_sale"}
        return body

    def _tier_json(self, event: EbEvent) -> dict[str, Any]:
        return {
            "event_id": event.id,
            "capacity_total": event.tier_total,
            "capacity_sold": event.sold,
            "capacity_pending": 0,
            "capacity_is_custom": event.tier_total is not None,
            "holds": [],
        }

    def _class_json(self, event: EbEvent, tc: TicketClass) -> dict[str, Any]:
        left = event.left(tc)
        status = "UNAVAILABLE" if tc.hidden else ("SOLD_OUT" if left <= 0 else "AVAILABLE")
        return {
            "id": tc.id,
            "event_id": event.id,
            "name": tc.name,
            "free": tc.free,
            "hidden": tc.hidden,
            "capacity": tc.capacity,
            "quantity_total": tc.capacity,
            "quantity_sold": tc.sold,
            "quantity_pending": 0,
            "on_sale_status": status,
            "resource_uri": self._api_url(f"events/{event.id}/ticket_classes/{tc.id}/"),
        }

    def _attendee_json(self, event: EbEvent, attendee: Attendee) -> dict[str, Any]:
        first, _, last = attendee.name.partition(" ")
        barcode_status = (
            "used" if attendee.checked_in else ("refunded" if attendee.cancelled else "unused")
        )
        return {
            "id": attendee.id,
            "created": _stamp(attendee.created),
            "changed": _stamp(attendee.changed),
            "ticket_class_id": attendee.ticket_class_id,
            "ticket_class_name": event.ticket_classes[attendee.ticket_class_id].name,
            "quantity": 1,
            "profile": {
                "name": attendee.name,
                "first_name": first,
                "last_name": last,
                "email": attendee.email,
            },
            "barcodes": [
                {
                    "barcode": f"{attendee.order_id}{attendee.id}",
                    "status": barcode_status,
                    "checkin_type": 2 if attendee.checked_in else 0,
                    "created": _stamp(attendee.created),
                    "changed": _stamp(attendee.changed),
                }
            ],
            "checked_in": attendee.checked_in,
            "cancelled": attendee.cancelled,
            "refunded": False,
            "status": "Not Attending"
            if attendee.cancelled
            else ("Checked In" if attendee.checked_in else "Attending"),
            "event_id": event.id,
            "order_id": attendee.order_id,
            "resource_uri": self._api_url(f"events/{event.id}/attendees/{attendee.id}/"),
        }

    def _order_json(self, event: EbEvent, order_id: str, tickets: list[Attendee]) -> dict[str, Any]:
        buyer = tickets[0]
        return {
            "id": order_id,
            "created": _stamp(buyer.created),
            "changed": _stamp(max(a.changed for a in tickets)),
            "name": buyer.name,
            "email": buyer.email,
            "status": "placed",
            "event_id": event.id,
            "resource_uri": self._api_url(f"orders/{order_id}/"),
        }

    def _attendee_page(self, event: EbEvent, query: Any) -> dict[str, Any]:
        items = sorted(event.attendees.values(), key=_key)
        status = query.get("status")
        if status == "attending":
            items = [a for a in items if not a.cancelled]
        elif status == "not_attending":
            items = [a for a in items if a.cancelled]
        since = query.get("changed_since")
        if since:
            try:
                moment = datetime.fromisoformat(since.replace("Z", "+00:00"))
            except ValueError as exc:
                raise SandboxHTTPError(
                    400, "changed_since must be a UTC time.", "ARGUMENTS_ERROR"
                ) from exc
            moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
            items = [a for a in items if a.changed.replace(microsecond=0) >= moment]
        total = len(items)
        start = 0
        if query.get("continuation"):
            # Keyset: resume after the last attendee sent, so changes mid-sweep skip nobody.
            mark = _decode_continuation(query["continuation"])
            start = next((i for i, a in enumerate(items) if _key(a) > mark), total)
        elif query.get("page"):
            page_number = query["page"]
            require(page_number.isdigit() and int(page_number) >= 1, 400, "page must be 1 or more.")
            start = (int(page_number) - 1) * self.page_size
        page = items[start : start + self.page_size]
        more = start + self.page_size < total
        pagination: dict[str, Any] = {
            "object_count": total,
            "page_number": start // self.page_size + 1,
            "page_size": self.page_size,
            "page_count": max(1, -(-total // self.page_size)),
            "has_more_items": more,
        }
        if more:
            pagination["continuation"] = _encode_continuation(_key(page[-1]))
        return {
            "pagination": pagination,
            "attendees": [self._attendee_json(event, a) for a in page],
        }

    # -- control operations ------------------------------------------------------------------

    def seed_event(self, seed: SeedEvent) -> str:
        venue_id = None
        if seed.venue_name:
            address = {
                "address_1": seed.address,
                "city": seed.city,
                "country": seed.country,
                "latitude": str(seed.lat) if seed.lat is not None else None,
                "longitude": str(seed.lon) if seed.lon is not None else None,
            }
            venue_id = self._add_venue(seed.venue_name, address)["id"]
        event = EbEvent(
            id=self._new_id(),
            name=seed.title,
            summary=_plain(seed.description)[:140],
            description_html="".join(f"<p>{p}</p>" for p in seed.description.split("\n\n") if p),
            starts_at=seed.starts_at,
            ends_at=seed.end,
            timezone=seed.timezone,
            venue_id=venue_id,
            online_event=bool(seed.online_url and not seed.venue_name),
            logo_url=seed.cover_url,
            waitlist_enabled=seed.waitlist,
        )
        ticket_class = TicketClass(self._new_id(), "General Admission", seed.limit or 10_000)
        event.ticket_classes[ticket_class.id] = ticket_class
        self.events[event.id] = event
        return event.id

    def add_registration(self, event_id: str, person: Person) -> Outcome:
        """One order of 1 + ``person.guests`` tickets: one attendee per ticket, all under the
        same order id and repeating the buyer's profile (Eventbrite's default)."""
        event = self._event(event_id)
        quantity = 1 + person.guests
        visible = [tc for tc in event.ticket_classes.values() if not tc.hidden]
        tc = next((t for t in visible if event.left(t) >= quantity), None)
        if tc is None:
            reason = "Sold out; Eventbrite's own waitlist is not visible to the API."
            if any(event.left(t) > 0 for t in visible):
                reason = f"Fewer than {quantity} tickets are left."
            return Outcome("refused", None, reason)
        stamp = now()
        order_id = self._new_id()
        attendees = [
            Attendee(
                self._new_id(), order_id, event.id, tc.id, person.name, person.email, stamp, stamp
            )
            for _ in range(quantity)
        ]
        tc.sold += quantity
        for attendee in attendees:
            event.attendees[attendee.id] = attendee
        self._notify(event, "order.placed", f"orders/{order_id}/")
        return Outcome("going", attendees[0].id)

    def _attendee(self, event: EbEvent, registration_id: str) -> Attendee:
        attendee = event.attendees.get(registration_id)
        if attendee is None:
            raise SandboxHTTPError(404, "The attendee does not exist.", "NOT_FOUND")
        return attendee

    def cancel_registration(self, event_id: str, registration_id: str) -> dict[str, Any]:
        event = self._event(event_id)
        attendee = self._attendee(event, registration_id)
        if not attendee.cancelled:
            attendee.cancelled, attendee.changed = True, now()
            event.ticket_classes[attendee.ticket_class_id].sold -= 1
            path = f"events/{event.id}/attendees/{attendee.id}/"
            self._notify(event, "attendee.updated", path)
        return self._attendee_json(event, attendee)

    def check_in(self, event_id: str, registration_id: str) -> dict[str, Any]:
        event = self._event(event_id)
        attendee = self._attendee(event, registration_id)
        require(not attendee.cancelled, 400, "A cancelled attendee cannot check in.")
        attendee.checked_in, attendee.changed = True, now()
        self._notify(event, "attendee.checked_in", f"events/{event.id}/attendees/{attendee.id}/")
        return self._attendee_json(event, attendee)

    def _notify(self, event: EbEvent, action: str, path: str) -> None:
        """Unsigned webhook: the body only points at the object to fetch with a token."""
        for hook in self.webhook_subscriptions.values():
            actions = {a.strip() for a in hook["actions"].split(",")}
            if action not in actions or hook["event_id"] not in ("", event.id):
                continue
            payload = {
                "api_url": self._api_url(path),
                "config": {
                    "action": action,
                    "endpoint_url": hook["endpoint_url"],
                    "user_id": self.user["id"],
                    "webhook_id": hook["id"],
                },
            }
            self.webhooks.send(hook["endpoint_url"], payload)

    def event_ids(self) -> list[str]:
        return list(self.events)

    def event_state(self, event_id: str) -> dict[str, Any]:
        event = self._event(event_id)
        classes = list(event.ticket_classes.values())
        return {
            "id": event.id,
            "title": event.name,
            "limit": min((event.left(tc) + tc.sold for tc in classes), default=None),
            "open": not event.sold_out(),
            "event_capacity": event.capacity,
            "tier_capacity": event.tier_total,
            "ticket_classes": [
                {
                    "id": tc.id,
                    "name": tc.name,
                    "capacity": tc.capacity,
                    "sold": tc.sold,
                    "hidden": tc.hidden,
                }
                for tc in classes
            ],
            "going": event.sold,
            "waitlist": 0,
            "cancelled": sum(1 for a in event.attendees.values() if a.cancelled),
            "registrations": [
                {
                    "id": a.id,
                    "order_id": a.order_id,
                    "name": a.name,
                    "email": a.email,
                    "status": "cancelled" if a.cancelled else "going",
                }
                for a in event.attendees.values()
            ],
        }


def _capacity(value: Any, field: str, sold: int, too_small: str) -> Any:
    """A capacity from a request: None (no limit) or a whole number not below what is sold."""
    require(value is None or _count(value), 400, f"{field} must be a whole number.")
    require(value is None or value >= sold, 400, too_small, "CAPACITY_TOTAL_TOO_SMALL")
    return value


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _wrapped(body: Any, key: str, allowed: set[str]) -> dict[str, Any]:
    """``{"<key>": {...}}`` with only known fields; unknown ones are an ARGUMENTS_ERROR."""
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise SandboxHTTPError(400, f'The body must be {{"{key}": {{...}}}}.', "INVALID_BODY")
    unknown = set(body[key]) - allowed
    if unknown:
        field_name = sorted(unknown)[0]
        raise SandboxHTTPError(400, f"Unknown field {key}.{field_name}.", "ARGUMENTS_ERROR")
    return body[key]


def _when(moment: datetime, tz: ZoneInfo) -> dict[str, str]:
    local = moment.astimezone(tz).strftime("%Y-%m-%dT%H:%M:%S")
    return {"timezone": str(tz), "local": local, "utc": _stamp(moment)}


def _plain(html: str) -> str:
    return html_to_text(html) if "<" in html else html


def _single_page(count: int) -> dict[str, Any]:
    return {
        "object_count": count,
        "page_number": 1,
        "page_size": 50,
        "page_count": 1,
        "has_more_items": False,
    }


def _key(attendee: Attendee) -> tuple[str, int]:
    return (attendee.changed.isoformat(), int(attendee.id))


def _encode_continuation(key: tuple[str, int]) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": list(key)}).encode()).decode()


def _decode_continuation(token: str) -> tuple[str, int]:
    try:
        stamp, attendee_id = json.loads(base64.urlsafe_b64decode(token.encode()))["after"]
        return str(stamp), int(attendee_id)
    except (ValueError, KeyError, TypeError) as exc:
        raise SandboxHTTPError(
            400, "The continuation token is not valid.", "BAD_CONTINUATION_TOKEN"
        ) from exc
