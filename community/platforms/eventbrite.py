"""Eventbrite client: REST v3 under ``{base}/v3/`` (docs/platforms.md, Eventbrite).

The mirror manages one ticket class per event and pushes that class's ``capacity``; the
sellable number Eventbrite enforces is the smallest of event capacity, capacity-tier total
and ticket-class capacity, which ``get_event`` reports.
"""

from __future__ import annotations

import hashlib
import html
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from community.platforms.base import (
    EventDraft,
    PushResult,
    RegistrationPage,
    RemoteAccount,
    RemoteEvent,
    RemoteEventStatus,
    RemoteListingState,
    RemoteRegistration,
)
from community.platforms.convert import html_to_text, iso_utc, parse_datetime
from community.platforms.errors import (
    NotSupported,
    PlatformAuthError,
    PlatformNotFound,
    PlatformRateLimited,
    PlatformRejected,
    PlatformTransient,
)
from community.platforms.http import ApiSession, json_body, retry_after_seconds
from community.platforms.tokens import TokenProvider, as_provider

PLATFORM = "eventbrite"
WAYPOINT = "Eventbrite-API-Waypoint-Token"
# 2,000 calls per hour per token; without a reset hint wait long enough to matter.
DEFAULT_RATE_WAIT = 3600.0
_AUTH_CODES = {"NO_AUTH", "INVALID_AUTH", "ACCESS_DENIED", "NOT_AUTHORIZED"}
_STATUS: dict[str, RemoteEventStatus] = {
    "draft": "draft",
    "live": "live",
    "started": "live",
    "ended": "ended",
    "completed": "ended",
    "canceled": "cancelled",
}


class EventbriteClient:
    platform = PLATFORM

    def __init__(
        self,
        base_url: str,
        token: str | TokenProvider,
        *,
        organization_id: str | None = None,
        ticket_class_name: str | None = None,
        currency: str = "EUR",
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout | float | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._session = ApiSession(
            PLATFORM, base_url, as_provider(token), transport=transport, timeout=timeout
        )
        self._organization_id = organization_id
        self._ticket_class_name = ticket_class_name
        self._currency = currency
        self._managed_class: dict[str, str] = {}
        # Orders read whole at a page end, per event, while one listing is paged through.
        self._whole_orders: dict[str, set[tuple[str, str]]] = {}
        self._waypoint: str | None = None

    async def aclose(self) -> None:
        await self._session.aclose()

    # -- reading -------------------------------------------------------------------------

    async def get_event(self, external_id: str) -> RemoteEvent:
        event = await self._call(
            "GET",
            f"/v3/events/{external_id}/",
            params={"expand": "venue,logo,ticket_availability,event_sales_status"},
        )
        ticket_class = await self._ticket_class(external_id)
        tier = await self._call("GET", f"/v3/events/{external_id}/capacity_tier/")
        limits = [ticket_class.get("capacity"), event.get("capacity"), tier.get("capacity_total")]
        known = [int(value) for value in limits if value is not None]
        venue = event.get("venue") or {}
        address = venue.get("address") or {}
        start = event.get("start") or {}
        starts_at = parse_datetime(start.get("utc"))
        if starts_at is None:
            raise PlatformRejected(PLATFORM, "Eventbrite sent an event without a start time.")
        logo = event.get("logo") or {}
        description = event.get("description") or {}
        return RemoteEvent(
            external_id=str(event["id"]),
            url=event.get("url") or "",
            title=(event.get("name") or {}).get("text") or "",
            description=description.get("text")
            or html_to_text(description.get("html"))
            or event.get("summary")
            or "",
            starts_at=starts_at,
            ends_at=parse_datetime((event.get("end") or {}).get("utc")),
            timezone=start.get("timezone") or "UTC",
            venue_name=venue.get("name"),
            address=address.get("localized_address_display") or address.get("address_1"),
            city=address.get("city"),
            country=address.get("country"),
            lat=_float(address.get("latitude")),
            lon=_float(address.get("longitude")),
            online_url=None,  # Eventbrite shows the online link to attendees only
            cover_url=(logo.get("original") or {}).get("url") or logo.get("url"),
            capacity=min(known) if known else None,
            going_count=_taken(ticket_class),
            waitlist_count=0,  # Eventbrite's waitlist is not readable through the API
            status=_STATUS.get(str(event.get("status")), "live"),
            listing_state=_class_state(ticket_class),
        )

    async def whoami(self) -> str:
        return (await self.account()).name

    async def account(self) -> RemoteAccount:
        me = await self._call("GET", "/v3/users/me/")
        emails = me.get("emails") or []
        primary = next((e["email"] for e in emails if e.get("primary")), None)
        return RemoteAccount(
            id=str(me["id"]),
            name=me.get("name") or "",
            email=primary or (emails[0]["email"] if emails else None),
        )

    async def list_registrations(
        self,
        external_id: str,
        cursor: str | None = None,
        *,
        changed_since: datetime | None = None,
    ) -> RegistrationPage:
        """Registrations: the attendees (one per ticket) grouped by order and person, every
        status, following ``continuation`` tokens.

        An order of N tickets by one buyer is one person taking N seats. A page can hold part
        of an order only: an order cut by the page end, or an increment that lists only the
        tickets that changed. The order is then read whole when it matters (the page end of
        a whole listing, a ticket cancelled); otherwise its seats are a lower bound.
        """
        params: dict[str, str] = {}
        if cursor:
            params["continuation"] = cursor
        else:
            self._whole_orders[external_id] = set()
        if changed_since:
            params["changed_since"] = iso_utc(changed_since)
        body = await self._call("GET", f"/v3/events/{external_id}/attendees/", params=params)
        pagination = body.get("pagination") or {}
        more = bool(pagination.get("has_more_items"))
        groups = _group(body.get("attendees") or [])
        done = self._whole_orders.setdefault(external_id, set())
        items: list[RemoteRegistration] = []
        for index, (key, attendees) in enumerate(groups.items()):
            if key in done:
                continue  # read whole at the end of the previous page
            order_id = key[0]
            cut = more and index == len(groups) - 1
            # Every page end is read whole, so within a whole listing only that group is
            # cut; an increment lists only changed tickets, whole when a ticket was cancelled.
            exact = changed_since is None and not cut
            cancelled = any(_cancelled(a) for a in attendees)
            if order_id and not exact and (cut or cancelled):
                whole = await self._order_attendees(order_id)
                if whole is not None:
                    attendees = _group(whole).get(key, attendees)
                    exact = True
                    if cut:
                        done.add(key)
            items.append(_to_registration(attendees, exact=exact))
        return RegistrationPage(
            items=items,
            next_cursor=pagination.get("continuation") if more else None,
        )

    async def _order_attendees(self, order_id: str) -> list[dict[str, Any]] | None:
        try:
            order = await self._call(
                "GET", f"/v3/orders/{order_id}/", params={"expand": "attendees"}
            )
        except PlatformNotFound:
            return None
        return list(order.get("attendees") or [])

    async def registrations_from_webhook(self, api_url: str) -> list[RemoteRegistration]:
        """Fetch what an (unsigned) webhook points at, after checking it is our API's URL."""
        prefix = f"{self._base_url}/v3/"
        if not api_url.startswith(prefix) or urlsplit(api_url).netloc != urlsplit(prefix).netloc:
            raise PlatformRejected(PLATFORM, "The webhook pointed outside Eventbrite's API.")
        path = "/v3/" + api_url[len(prefix) :].split("?")[0]
        if re.fullmatch(r"/v3/orders/\d+/?", path):
            order = await self._call("GET", path, params={"expand": "attendees"})
            groups = _group(order.get("attendees") or [])
            return [_to_registration(g, exact=True) for g in groups.values()]
        if re.fullmatch(r"/v3/events/\d+/attendees/\d+/?", path):
            attendee = await self._call("GET", path)
            order_id = str(attendee.get("order_id") or "")
            whole = await self._order_attendees(order_id) if order_id else None
            if whole is None:
                return [_to_registration([attendee], exact=False)]
            groups = _group(whole)
            return [_to_registration(g, exact=True) for g in groups.values()]
        raise PlatformRejected(PLATFORM, "The webhook pointed at something we do not read.")

    # -- pushing -------------------------------------------------------------------------

    async def set_limit(self, external_id: str, limit: int) -> PushResult:
        """Set the managed ticket class's ``capacity`` to ``limit``.

        Eventbrite refuses a capacity below what it already sold (``PlatformRejected``).
        """
        if limit < 0:
            raise ValueError("limit must not be negative")
        class_id = await self._managed_class_id(external_id)
        ticket_class = await self._class_call(
            external_id, "POST", class_id, json={"ticket_class": {"capacity": limit}}
        )
        return _to_push_result(ticket_class)

    async def set_state(
        self,
        external_id: str,
        state: RemoteListingState,
        going_count: int,
        *,
        limit: int | None = None,
    ) -> PushResult:
        """Sold out is derived on Eventbrite: capacity equal to what it sold (plus pending).

        Eventbrite has no waitlist endpoint (its waitlist is a setting in its own UI), so
        WAITLIST falls back to sold out here. Reopening applies ``limit`` when given.
        """
        if state is RemoteListingState.OPEN:
            if limit is not None:
                return await self.set_limit(external_id, limit)
            return _to_push_result(await self._ticket_class(external_id))
        ticket_class = await self._ticket_class(external_id)
        return await self.set_limit(external_id, max(going_count, _taken(ticket_class)))

    async def _ticket_class(self, external_id: str) -> dict[str, Any]:
        class_id = await self._managed_class_id(external_id)
        return await self._class_call(external_id, "GET", class_id)

    async def _class_call(
        self, external_id: str, method: str, class_id: str, json: Any = None
    ) -> dict[str, Any]:
        try:
            return await self._call(
                method, f"/v3/events/{external_id}/ticket_classes/{class_id}/", json=json
            )
        except PlatformNotFound:
            # The class was deleted on Eventbrite: choose again on the next call.
            self._managed_class.pop(external_id, None)
            raise

    async def _managed_class_id(self, external_id: str) -> str:
        """The ticket class we push: the one named as configured, else the first visible one."""
        if external_id in self._managed_class:
            return self._managed_class[external_id]
        body = await self._call("GET", f"/v3/events/{external_id}/ticket_classes/")
        classes = body.get("ticket_classes") or []
        if self._ticket_class_name:
            classes = [c for c in classes if c.get("name") == self._ticket_class_name]
        visible = [c for c in classes if not c.get("hidden")] or classes
        if not visible:
            raise PlatformRejected(
                PLATFORM, "The Eventbrite event has no ticket class for the dashboard to manage."
            )
        self._managed_class[external_id] = str(visible[0]["id"])
        return self._managed_class[external_id]

    # -- creating, webhooks, check-in ------------------------------------------------------

    async def create_event(self, draft: EventDraft) -> RemoteEvent:
        """Create, add one free ticket class with the capacity, and publish."""
        organization = await self.organization_id()
        body: dict[str, Any] = {
            "name": {"html": html.escape(draft.title)},
            "summary": draft.description[:140],
            "description": {"html": _paragraphs(draft.description)},
            "start": {"timezone": draft.timezone, "utc": iso_utc(draft.starts_at)},
            "end": {"timezone": draft.timezone, "utc": iso_utc(draft.ends_at)},
            "currency": self._currency,
            "online_event": bool(draft.online_url and not draft.venue_name),
            "listed": True,
        }
        if draft.venue_name:
            venue = await self._call(
                "POST",
                f"/v3/organizations/{organization}/venues/",
                json={
                    "venue": {
                        "name": draft.venue_name,
                        "address": {
                            "address_1": draft.address or "",
                            "city": draft.city or "",
                            "country": draft.country or "",
                        },
                    }
                },
            )
            body["venue_id"] = str(venue["id"])
        event = await self._call(
            "POST", f"/v3/organizations/{organization}/events/", json={"event": body}
        )
        event_id = str(event["id"])
        ticket_class: dict[str, Any] = {"name": self._ticket_class_name or "General Admission"}
        ticket_class |= {"free": True, "capacity": draft.capacity or 0}
        created = await self._call(
            "POST", f"/v3/events/{event_id}/ticket_classes/", json={"ticket_class": ticket_class}
        )
        self._managed_class[event_id] = str(created["id"])
        await self._call("POST", f"/v3/events/{event_id}/publish/")
        return await self.get_event(event_id)

    async def organization_id(self) -> str:
        if self._organization_id is None:
            body = await self._call("GET", "/v3/users/me/organizations/")
            organizations = body.get("organizations") or []
            if not organizations:
                raise PlatformRejected(PLATFORM, "This Eventbrite account has no organization.")
            self._organization_id = str(organizations[0]["id"])
        return self._organization_id

    async def webhook_event_id(self, api_url: str) -> str:
        """The event an (unsigned) webhook's ``api_url`` belongs to, read with our own token.

        This is how an Eventbrite webhook is verified: the object must exist on the configured
        API host and be visible to our account (else PlatformNotFound / PlatformRejected).
        """
        prefix = f"{self._base_url}/v3/"
        if not api_url.startswith(prefix) or urlsplit(api_url).netloc != urlsplit(prefix).netloc:
            raise PlatformRejected(PLATFORM, "The webhook pointed outside Eventbrite's API.")
        path = "/v3/" + api_url[len(prefix) :].split("?")[0]
        if not re.fullmatch(r"/v3/(orders/\d+|events/\d+/attendees/\d+|events/\d+)/?", path):
            raise PlatformRejected(PLATFORM, "The webhook pointed at something we do not read.")
        body = await self._call("GET", path)
        if path.startswith("/v3/events/") and "/attendees/" not in path:
            return str(body.get("id") or "")  # the event itself
        return str(body.get("event_id") or "")

    async def ensure_webhook(
        self, endpoint_url: str, actions: list[str], *, event_id: str
    ) -> tuple[str, bool]:
        """Our webhook for the event, created unless it exists: (its id, whether it is new)."""
        organization = await self.organization_id()
        body = await self._call("GET", f"/v3/organizations/{organization}/webhooks/")
        for hook in body.get("webhooks") or []:
            if hook.get("endpoint_url") == endpoint_url and str(hook.get("event_id") or "") in (
                "",
                event_id,
            ):
                return str(hook["id"]), False
        return await self.register_webhook(endpoint_url, actions, event_id=event_id), True

    async def register_webhook(
        self, endpoint_url: str, actions: list[str], *, event_id: str | None = None
    ) -> str:
        organization = await self.organization_id()
        body = {"endpoint_url": endpoint_url, "actions": ",".join(actions)}
        if event_id:
            body["event_id"] = event_id
        hook = await self._call("POST", f"/v3/organizations/{organization}/webhooks/", json=body)
        return str(hook["id"])

    async def mark_checkin(self, external_id: str, registration_id: str) -> None:
        raise NotSupported(
            PLATFORM, "Eventbrite's API cannot check people in; check-in stays on the dashboard."
        )

    # -- transport ---------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
    ) -> dict[str, Any]:
        headers = {WAYPOINT: self._waypoint} if self._waypoint else None
        response = await self._session.request(
            method, path, params=params, json=json, headers=headers
        )
        # Echoing the waypoint on the next call gives read-your-writes consistency.
        self._waypoint = response.headers.get(WAYPOINT) or self._waypoint
        body = json_body(response)
        if response.is_success and isinstance(body, dict):
            return body
        _raise_error(response, body if isinstance(body, dict) else {})
        raise PlatformRejected(PLATFORM, "Eventbrite sent an answer we could not read.")


def _raise_error(response: httpx.Response, body: dict[str, Any]) -> None:
    status = response.status_code
    code = str(body.get("error") or status)
    description = str(body.get("error_description") or "no reason given")[:300]
    if status == 429 or code == "HIT_RATE_LIMIT":
        raise PlatformRateLimited(
            PLATFORM,
            "Eventbrite asked us to slow down.",
            retry_after=rate_wait(response),
            code=code,
        )
    if status >= 500 or code == "REQUEST_CONFLICT":
        raise PlatformTransient(PLATFORM, f"Eventbrite had a server error ({status}).", code=code)
    if status == 403 or code in _AUTH_CODES:
        raise PlatformAuthError(
            PLATFORM, "Eventbrite refused this account; reconnect it.", code=code
        )
    if status == 404 or code == "NOT_FOUND":
        raise PlatformNotFound(PLATFORM, "Eventbrite has no such event or object.", code=code)
    if status >= 400:
        raise PlatformRejected(PLATFORM, f"Eventbrite refused the change: {description}", code=code)


def rate_wait(response: httpx.Response) -> float:
    if "Retry-After" in response.headers:
        return retry_after_seconds(response, DEFAULT_RATE_WAIT)
    match = re.search(r"reset=(\d+)s", response.headers.get("x-rate-limit", ""))
    return float(match.group(1)) if match else DEFAULT_RATE_WAIT


def _taken(ticket_class: dict[str, Any]) -> int:
    """Seats the class has handed out, counting open checkouts that still hold one."""
    return int(ticket_class.get("quantity_sold") or 0) + int(
        ticket_class.get("quantity_pending") or 0
    )


def _class_state(ticket_class: dict[str, Any]) -> RemoteListingState:
    sold_out = ticket_class.get("on_sale_status") == "SOLD_OUT"
    return RemoteListingState.SOLD_OUT if sold_out else RemoteListingState.OPEN


def _to_push_result(ticket_class: dict[str, Any]) -> PushResult:
    capacity = ticket_class.get("capacity")
    return PushResult(
        limit=int(capacity) if capacity is not None else None,
        going_count=_taken(ticket_class),
        state=_class_state(ticket_class),
    )


def _person(attendee: dict[str, Any]) -> str:
    email = ((attendee.get("profile") or {}).get("email") or "").strip().lower()
    return email or f"attendee:{attendee['id']}"


def _group(attendees: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Tickets by (order, person), in listing order: by default every ticket of an order
    repeats the buyer's profile, so one buyer's order is one group."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for attendee in attendees:
        order_id = str(attendee.get("order_id") or "")
        groups.setdefault((order_id, _person(attendee)), []).append(attendee)
    return groups


def _cancelled(attendee: dict[str, Any]) -> bool:
    return bool(
        attendee.get("cancelled")
        or attendee.get("refunded")
        or attendee.get("status") in ("Not Attending", "Deleted")
    )


def _external_id(order_id: str, person: str, first_attendee: str) -> str:
    """One registration per order and person; stable whichever tickets come and go."""
    if not order_id:
        return first_attendee
    digest = hashlib.sha256(person.encode()).hexdigest()[:12]
    return f"{order_id}-{digest}"


def _to_registration(attendees: list[dict[str, Any]], *, exact: bool) -> RemoteRegistration:
    first = attendees[0]
    profile = first.get("profile") or {}
    email = (profile.get("email") or "").strip() or None
    going = [a for a in attendees if not _cancelled(a)]
    checked_in = []
    for attendee in going:
        if attendee.get("checked_in"):
            barcodes = attendee.get("barcodes") or []
            used = next((b for b in barcodes if b.get("status") == "used"), None)
            moment = parse_datetime((used or {}).get("changed") or attendee.get("changed"))
            if moment is not None:
                checked_in.append(moment)
    changed = [c for c in (parse_datetime(a.get("changed")) for a in attendees) if c is not None]
    ids = tuple(str(a["id"]) for a in attendees)
    return RemoteRegistration(
        external_id=_external_id(str(first.get("order_id") or ""), _person(first), ids[0]),
        member_external_id=email.lower() if email else f"attendee:{first['id']}",
        name=profile.get("name") or "",
        email=email,
        status="going" if going else "cancelled",
        checked_in_at=min(checked_in) if checked_in else None,
        updated_at=max(changed) if changed else None,
        seats=max(1, len(going)),
        seats_exact=exact,
        aliases=ids,
    )


def _paragraphs(markdown: str) -> str:
    blocks = [b.strip() for b in markdown.split("\n\n") if b.strip()]
    return "".join(f"<p>{html.escape(b)}</p>" for b in blocks)


def _float(value: object) -> float | None:
    try:
        return float(value) if value not in (None, "") else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
