"""Luma client: current ``/v1/events/...`` paths with ``x-luma-api-key`` (docs/platforms.md, Luma).

Luma's "get event" shows neither ``max_capacity`` nor counts, so counts come from the guest
list and the limit is the one this client last pushed (None before any push).

A push costs two calls (Luma's budget is 200 a minute per calendar): the update, and one page
of approved guests to count them (more pages only past ``COUNT_PAGE`` guests). Whether a full
event shows a waitlist or "sold out" is the event's read-only ``waitlist_status``, remembered
from the last read of the event; both count as closed for the mirror (services.mirror.plan).
"""

from __future__ import annotations

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
    RemoteListingState,
    RemoteRegistration,
    RemoteStatus,
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

PLATFORM = "luma"
# 200 calls per minute per calendar, reportedly with a one-minute lockout.
DEFAULT_RATE_WAIT = 60.0
COUNT_PAGE = 1000  # guests asked for per page when only counting (the server may cap it)
_GUEST_STATUS: dict[str, RemoteStatus] = {
    "approved": "going",
    "waitlist": "waitlist",
    "pending_approval": "waitlist",  # holds no seat until a host approves
    "declined": "cancelled",
}


def _api_key_header(key: str) -> dict[str, str]:
    return {"x-luma-api-key": key}


class LumaClient:
    platform = PLATFORM

    def __init__(
        self,
        base_url: str,
        api_key: str | TokenProvider,
        *,
        page_size: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout | float | None = None,
    ) -> None:
        self._session = ApiSession(
            PLATFORM,
            base_url,
            as_provider(api_key),
            auth_headers=_api_key_header,
            transport=transport,
            timeout=timeout,
        )
        self._page_size = page_size
        self._pushed_limit: dict[str, int | None] = {}
        self._waitlist: dict[str, bool] = {}  # event id -> waitlist_status enabled, as last read

    async def aclose(self) -> None:
        await self._session.aclose()

    # -- reading -------------------------------------------------------------------------

    async def get_event(self, external_id: str) -> RemoteEvent:
        event = await self._event(external_id)
        going, waitlist = await self._counts(external_id)
        geo = event.get("geo_address_json") or {}
        coordinate = event.get("coordinate") or {}
        starts_at = parse_datetime(event.get("start_at"))
        if starts_at is None:
            raise PlatformRejected(PLATFORM, "Luma sent an event without a start time.")
        limit = self._pushed_limit.get(external_id)
        return RemoteEvent(
            external_id=str(event.get("id") or event.get("api_id")),
            url=event.get("url") or "",
            title=event.get("name") or "",
            description=event.get("description_md") or html_to_text(event.get("description")),
            starts_at=starts_at,
            ends_at=parse_datetime(event.get("end_at")),
            timezone=event.get("timezone") or "UTC",
            venue_name=geo.get("address"),
            address=geo.get("full_address"),
            city=geo.get("city"),
            country=geo.get("country"),
            lat=coordinate.get("latitude", event.get("geo_latitude")),
            lon=coordinate.get("longitude", event.get("geo_longitude")),
            online_url=event.get("meeting_url"),
            cover_url=event.get("cover_url"),
            capacity=limit,
            going_count=going,
            waitlist_count=waitlist,
            status="live",  # Luma deletes cancelled events instead of flagging them
            listing_state=_state(limit, going, event),
        )

    async def find_event_by_slug(self, slug: str) -> str | None:
        """The ``evt-`` id of the calendar's event whose public URL is ``lu.ma/<slug>``.

        Luma's API reads events by id only; the events this key manages are listed with their
        public ``url``, so the slug is looked for there. None when no event of the calendar has it.
        """
        wanted = slug.strip("/").lower()
        cursor: str | None = None
        for _ in range(50):
            params = {"pagination_limit": "100"}
            if cursor:
                params["pagination_cursor"] = cursor
            body = await self._call("GET", "/v1/calendars/events/list", params=params)
            for entry in body.get("entries") or []:
                event = entry.get("event") or entry
                path = urlsplit(str(event.get("url") or "")).path.strip("/").lower()
                if path and path.split("/")[-1] == wanted:
                    return str(event.get("id") or event.get("api_id") or entry.get("api_id"))
            cursor = body.get("next_cursor")
            if not body.get("has_more") or not cursor:
                return None
        return None

    async def whoami(self) -> str:
        return (await self.account()).name

    async def account(self) -> RemoteAccount:
        body = await self._call("GET", "/v1/users/get-self")
        me = body.get("user") or body
        return RemoteAccount(id=str(me["id"]), name=me.get("name") or "", email=me.get("email"))

    async def list_registrations(
        self,
        external_id: str,
        cursor: str | None = None,
        *,
        changed_since: datetime | None = None,
    ) -> RegistrationPage:
        """Guests in registration order, following ``next_cursor``.

        Luma's list has no "changed since" filter, so every sweep reads the whole list and
        ``changed_since`` is ignored; the ``guest.*`` webhooks give the timely changes.
        """
        body = await self._guest_page(external_id, cursor)
        items = [
            _to_registration(guest)
            for guest in body.get("entries") or []
            if _guest(guest).get("approval_status") in _GUEST_STATUS
        ]
        next_cursor = body.get("next_cursor") if body.get("has_more") else None
        return RegistrationPage(items=items, next_cursor=next_cursor)

    # -- pushing -------------------------------------------------------------------------

    async def set_limit(self, external_id: str, limit: int) -> PushResult:
        """Set the event's ``max_capacity`` (Luma closes registration when it is reached), then
        count the approved guests: two calls."""
        await self._update_capacity(external_id, limit)
        return self._result(external_id, await self._approved_count(external_id))

    async def _update_capacity(self, external_id: str, limit: int) -> None:
        if limit < 0:
            raise ValueError("limit must not be negative")
        await self._call(
            "POST",
            "/v1/events/update",
            json={"event_id": external_id, "max_capacity": limit, "suppress_notifications": True},
        )
        self._pushed_limit[external_id] = limit

    async def set_state(
        self,
        external_id: str,
        state: RemoteListingState,
        going_count: int,
        *,
        limit: int | None = None,
    ) -> PushResult:
        """Sold out and waitlist both set ``max_capacity`` to the approved count.

        Luma's waitlist switch is read-only in its API. With the event's waitlist enabled,
        registrations past capacity join Luma's waitlist; otherwise the event shows sold out.
        The result's state says which one visitors now see. Reopening applies ``limit``.
        """
        if state is RemoteListingState.OPEN:
            if limit is not None:
                return await self.set_limit(external_id, limit)
            return self._result(external_id, await self._approved_count(external_id))
        # Count first, so the event closes at what it really has (two calls in all).
        going = await self._approved_count(external_id)
        await self._update_capacity(external_id, max(going_count, going))
        return self._result(external_id, going, asked=state)

    def _result(
        self,
        external_id: str,
        going: int,
        *,
        asked: RemoteListingState = RemoteListingState.SOLD_OUT,
    ) -> PushResult:
        """The state visitors see; for a full event whose waitlist setting this client has not
        read, the state asked for (the mirror treats both closed states alike on Luma)."""
        limit = self._pushed_limit.get(external_id)
        known = self._waitlist.get(external_id)
        waitlist = asked is RemoteListingState.WAITLIST if known is None else known
        event = {"waitlist_status": "enabled" if waitlist else "disabled"}
        return PushResult(limit=limit, going_count=going, state=_state(limit, going, event))

    async def _approved_count(self, external_id: str) -> int:
        """Seats of the approved guests (their tickets, plus-ones included), counted from the
        list filtered to them (one call per COUNT_PAGE guests)."""
        going = 0
        cursor: str | None = None
        while True:
            params = {
                "event_id": external_id,
                "approval_status": "approved",
                "pagination_limit": str(COUNT_PAGE),
            }
            if cursor:
                params["pagination_cursor"] = cursor
            body = await self._call("GET", "/v1/events/guests/list", params=params)
            going += sum(
                _tickets(_guest(entry))
                for entry in body.get("entries") or []
                if _guest(entry).get("approval_status", "approved") == "approved"
            )
            cursor = body.get("next_cursor")
            if not body.get("has_more") or not cursor:
                return going

    # -- creating, webhooks, check-in ------------------------------------------------------

    async def create_event(self, draft: EventDraft) -> RemoteEvent:
        body: dict[str, Any] = {
            "name": draft.title,
            "start_at": iso_utc(draft.starts_at),
            "end_at": iso_utc(draft.ends_at),
            "timezone": draft.timezone,
            "description_md": draft.description,
            "max_capacity": draft.capacity,
        }
        if draft.venue_name or draft.address:
            place = ", ".join(p for p in (draft.venue_name, draft.address, draft.city) if p)
            body["geo_address_json"] = {"type": "manual", "address": place}
        if draft.online_url:
            body["meeting_url"] = draft.online_url
        created = await self._call("POST", "/v1/events/create", json=body)
        event_id = str(created.get("id") or created.get("api_id"))
        self._pushed_limit[event_id] = draft.capacity
        return await self.get_event(event_id)

    async def ensure_webhook(self, url: str, event_types: list[str]) -> tuple[str, bool]:
        """Our webhook, created unless an active one exists: (its id, whether it is new).

        Luma's webhooks belong to the key's calendar, not to one event: the receiver drops
        deliveries about the calendar's other events.
        """
        cursor: str | None = None
        for _ in range(20):
            params = {"pagination_cursor": cursor} if cursor else None
            body = await self._call("GET", "/v1/webhooks/list", params=params)
            for hook in body.get("entries") or []:
                hook = hook.get("webhook") or hook
                if hook.get("url") == url and hook.get("status", "active") == "active":
                    return str(hook.get("id")), False
            cursor = body.get("next_cursor")
            if not body.get("has_more") or not cursor:
                break
        created = await self.register_webhook(url, event_types)
        return str(created.get("id")), True

    async def register_webhook(self, url: str, event_types: list[str]) -> dict[str, Any]:
        """Returns Luma's webhook record (``id``, ``secret``...)."""
        body = await self._call(
            "POST", "/v2/webhooks/create", json={"url": url, "event_types": event_types}
        )
        return body.get("webhook") or body

    async def mark_checkin(self, external_id: str, registration_id: str) -> None:
        raise NotSupported(
            PLATFORM, "Luma's API cannot check people in; check-in stays on the dashboard."
        )

    # -- helpers ---------------------------------------------------------------------------

    async def _event(self, external_id: str) -> dict[str, Any]:
        body = await self._call("GET", "/v1/events/get", params={"event_id": external_id})
        event = body.get("event") or body
        self._waitlist[external_id] = event.get("waitlist_status") == "enabled"
        return event

    async def _guest_page(self, external_id: str, cursor: str | None) -> dict[str, Any]:
        params = {
            "event_id": external_id,
            "pagination_limit": str(self._page_size),
            "sort_column": "registered_at",
            "sort_direction": "asc",
        }
        if cursor:
            params["pagination_cursor"] = cursor
        return await self._call("GET", "/v1/events/guests/list", params=params)

    async def _counts(self, external_id: str) -> tuple[int, int]:
        """(approved, waitlisted) counted over the whole guest list."""
        going = waitlist = 0
        cursor: str | None = None
        while True:
            body = await self._guest_page(external_id, cursor)
            for entry in body.get("entries") or []:
                status = _guest(entry).get("approval_status")
                going += _tickets(_guest(entry)) if status == "approved" else 0
                waitlist += status == "waitlist"
            cursor = body.get("next_cursor")
            if not body.get("has_more") or not cursor:
                return going, waitlist

    async def _call(
        self, method: str, path: str, *, params: dict[str, str] | None = None, json: Any = None
    ) -> dict[str, Any]:
        response = await self._session.request(method, path, params=params, json=json)
        body = json_body(response)
        if response.is_success:
            return body if isinstance(body, dict) else {}
        reason = body.get("message") if isinstance(body, dict) else None
        message = str(reason or "no reason given")[:300]
        status = response.status_code
        if status == 429:
            raise PlatformRateLimited(
                PLATFORM,
                "Luma asked us to slow down.",
                retry_after=retry_after_seconds(response, DEFAULT_RATE_WAIT),
                code="429",
            )
        if status >= 500:
            raise PlatformTransient(
                PLATFORM, f"Luma had a server error ({status}).", code=str(status)
            )
        if status == 403:
            raise PlatformAuthError(PLATFORM, "Luma refused this API key; check it.", code="403")
        if status == 404:
            raise PlatformNotFound(
                PLATFORM, "Luma has no such event for this calendar.", code="404"
            )
        raise PlatformRejected(PLATFORM, f"Luma refused the change: {message}", code=str(status))


def _tickets(guest: dict[str, Any]) -> int:
    """Seats a guest takes: one per ticket when Luma lets people register for several
    (each ticket counts against max_capacity). Luma's API has no plus-one count."""
    return max(1, len(guest.get("event_tickets") or []))


def _guest(entry: dict[str, Any]) -> dict[str, Any]:
    """Legacy list entries wrap the guest as ``{"api_id", "guest": {...}}``."""
    return entry.get("guest") or entry


def _state(limit: int | None, going: int, event: dict[str, Any]) -> RemoteListingState:
    if limit is None or going < limit:
        return RemoteListingState.OPEN
    waitlist = event.get("waitlist_status") == "enabled"
    return RemoteListingState.WAITLIST if waitlist else RemoteListingState.SOLD_OUT


def _to_registration(entry: dict[str, Any]) -> RemoteRegistration:
    guest = _guest(entry)
    tickets = guest.get("event_tickets") or []
    check_ins = [
        parsed
        for parsed in (parse_datetime(t.get("checked_in_at")) for t in tickets)
        if parsed is not None
    ]
    legacy_check_in = parse_datetime(guest.get("checked_in_at"))
    email = guest.get("user_email") or None
    member = guest.get("user_id") or guest.get("user_api_id") or (email or "").lower()
    return RemoteRegistration(
        external_id=str(guest.get("id") or guest.get("api_id")),
        member_external_id=str(member),
        name=guest.get("user_name") or "",
        email=email,
        status=_GUEST_STATUS[guest["approval_status"]],
        checked_in_at=min(check_ins) if check_ins else legacy_check_in,
        updated_at=parse_datetime(guest.get("updated_at") or guest.get("registered_at")),
        seats=_tickets(guest),
    )
