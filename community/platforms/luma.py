"""Luma client: current ``/v1/events/...`` paths with ``x-luma-api-key`` (platforms.md section 3).

Luma's "get event" shows neither ``max_capacity`` nor counts, so counts come from the guest
list and the limit is the one this client last pushed (None before any push).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from community.platforms.base import (
    EventDraft,
    ListingState,
    PushResult,
    RegistrationPage,
    RemoteAccount,
    RemoteEvent,
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
        """Set the event's ``max_capacity``; Luma closes registration when it is reached."""
        if limit < 0:
            raise ValueError("limit must not be negative")
        await self._call(
            "POST",
            "/v1/events/update",
            json={"event_id": external_id, "max_capacity": limit, "suppress_notifications": True},
        )
        self._pushed_limit[external_id] = limit
        return await self._push_result(external_id)

    async def set_state(
        self,
        external_id: str,
        state: ListingState,
        going_count: int,
        *,
        limit: int | None = None,
    ) -> PushResult:
        """Sold out and waitlist both set ``max_capacity`` to the approved count.

        Luma's waitlist switch is read-only in its API. With the event's waitlist enabled,
        registrations past capacity join Luma's waitlist; otherwise the event shows sold out.
        The result's state says which one visitors now see. Reopening applies ``limit``.
        """
        if state is ListingState.OPEN:
            if limit is not None:
                return await self.set_limit(external_id, limit)
            return await self._push_result(external_id)
        going, _ = await self._counts(external_id)
        return await self.set_limit(external_id, max(going_count, going))

    async def _push_result(self, external_id: str) -> PushResult:
        event = await self._event(external_id)
        going, _ = await self._counts(external_id)
        limit = self._pushed_limit.get(external_id)
        return PushResult(limit=limit, going_count=going, state=_state(limit, going, event))

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
        return body.get("event") or body

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


def _state(limit: int | None, going: int, event: dict[str, Any]) -> ListingState:
    if limit is None or going < limit:
        return ListingState.OPEN
    waitlist = event.get("waitlist_status") == "enabled"
    return ListingState.WAITLIST if waitlist else ListingState.SOLD_OUT


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
