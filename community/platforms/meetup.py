"""Meetup client: GraphQL at ``{base}/gql-ext`` with a Bearer token (docs/platforms.md, Meetup)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from community.platforms import meetup_queries as q
from community.platforms.base import (
    EventDraft,
    PushResult,
    RegistrationPage,
    RemoteAccount,
    RemoteEvent,
    RemoteEventStatus,
    RemoteListingState,
    RemoteRegistration,
    RemoteStatus,
    photo_url,
)
from community.platforms.convert import parse_datetime
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

PLATFORM = "meetup"
GQL_PATH = "/gql-ext"
# Meetup's budget is 500 points per 60 s; without a resetAt wait out a whole window.
DEFAULT_RATE_WAIT = 60.0

_STATUS: dict[str, RemoteEventStatus] = {
    "DRAFT": "draft",
    "AUTOSCHED_DRAFT": "draft",
    "PENDING": "draft",
    "PROPOSED": "draft",
    "TEMPLATE": "draft",
    "CANCELLED": "cancelled",
    "CANCELLED_PERM": "cancelled",
    "AUTOSCHED_CANCELLED": "cancelled",
    "BLOCKED": "cancelled",
    "PAST": "ended",
    "AUTOSCHED_FINISHED": "ended",
}
_RSVP_STATUS: dict[str, RemoteStatus] = {
    "YES": "going",
    "ATTENDED": "going",
    "NO_SHOW": "going",
    "WAITLIST": "waitlist",
    "YES_PENDING_PAYMENT": "waitlist",
}
_AUTH_CODES = {"UNAUTHENTICATED", "UNAUTHORIZED", "FORBIDDEN", "AUTH_FAIL"}


class MeetupClient:
    platform = PLATFORM

    def __init__(
        self,
        base_url: str,
        token: str | TokenProvider,
        *,
        group_urlname: str | None = None,
        page_size: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout | float | None = None,
    ) -> None:
        self._session = ApiSession(
            PLATFORM, base_url, as_provider(token), transport=transport, timeout=timeout
        )
        self._group_urlname = group_urlname
        self._page_size = page_size

    async def aclose(self) -> None:
        await self._session.aclose()

    # -- reading -------------------------------------------------------------------------

    async def get_event(self, external_id: str) -> RemoteEvent:
        data = await self._gql(q.EVENT, {"id": external_id})
        return _to_event(_require_event(data, external_id))

    async def whoami(self) -> str:
        return (await self.account()).name

    async def account(self) -> RemoteAccount:
        me = (await self._gql(q.SELF, {})).get("self")
        if not me:
            raise PlatformAuthError(PLATFORM, "Meetup did not say who this account is.")
        return RemoteAccount(id=str(me["id"]), name=me.get("name") or "", email=me.get("email"))

    async def list_registrations(
        self,
        external_id: str,
        cursor: str | None = None,
        *,
        changed_since: datetime | None = None,
    ) -> RegistrationPage:
        """RSVPs, most recently updated first; stops at ``changed_since`` when given.

        Meetup has no webhooks, so this is polled. Sorting by update time (newest first) lets an
        incremental sweep end as soon as it reaches RSVPs it has already seen.
        """
        variables = {
            "id": external_id,
            "first": self._page_size,
            "after": cursor,
            "filter": {"rsvpStatus": q.ALL_RSVP_STATUSES},
            "sort": {"sortField": "DATETIME", "sortOrder": "DESC"},
        }
        event = _require_event(await self._gql(q.RSVPS, variables), external_id)
        connection = event["rsvps"]
        items: list[RemoteRegistration] = []
        for edge in connection["edges"]:
            registration = _to_registration(edge["node"])
            if (
                changed_since
                and registration.updated_at
                and registration.updated_at < changed_since
            ):
                return RegistrationPage(items=items, next_cursor=None)
            items.append(registration)
        page_info = connection["pageInfo"]
        next_cursor = page_info["endCursor"] if page_info["hasNextPage"] else None
        return RegistrationPage(items=items, next_cursor=next_cursor)

    # -- pushing -------------------------------------------------------------------------

    async def set_limit(self, external_id: str, limit: int) -> PushResult:
        """Set ``rsvpLimit`` (one seat per RSVP: ``guestLimit`` 0).

        Meetup reads a limit of 0 as "no limit", so a limit of 0 closes RSVPs instead.
        """
        if limit < 0:
            raise ValueError("limit must not be negative")
        if limit == 0:
            return await self._close(external_id)
        return await self._edit_limit(external_id, limit)

    async def set_state(
        self,
        external_id: str,
        state: RemoteListingState,
        going_count: int,
        *,
        limit: int | None = None,
    ) -> PushResult:
        """Sold out closes RSVPs; waitlist caps the limit at the YES count; open reopens.

        Meetup has no waitlist switch in its API. The documented fallback: with the limit at
        the current YES count, Meetup itself puts new RSVPs on its waitlist when the event's
        ``waitlistMode`` is AUTO (and shows it full otherwise), promoting people when the
        limit rises. With nobody going the limit would have to be 0, which Meetup reads as
        unlimited, so waitlist then falls back to closing RSVPs.
        """
        if state is RemoteListingState.SOLD_OUT:
            return await self._close(external_id)
        if state is RemoteListingState.WAITLIST:
            if going_count <= 0:
                return await self._close(external_id)
            return await self._open_with_limit(external_id, going_count)
        if limit is None:
            current = await self._push_state(external_id)
            if not current["rsvpSettings"]["rsvpsClosed"]:
                return _to_push_result(current)  # already open: nothing to reopen
            limit = current["maxTickets"] or 0
            if limit == 0:
                raise ValueError("reopening a closed Meetup listing needs the limit to apply")
        if limit <= 0:
            raise ValueError("reopening a Meetup listing needs a positive limit")
        return await self._open_with_limit(external_id, limit)

    async def _open_with_limit(self, external_id: str, limit: int) -> PushResult:
        event = await self._mutate(
            q.EDIT_EVENT, "editEvent", _edit_input(external_id, limit), external_id
        )
        if event["rsvpSettings"]["rsvpsClosed"]:
            await self._mutate(
                q.OPEN_RSVPS, "openEventRsvps", {"eventId": external_id}, external_id
            )
            # Opening may reset rsvpSettings, so the limit is applied again once open.
            event = await self._mutate(
                q.EDIT_EVENT, "editEvent", _edit_input(external_id, limit), external_id
            )
        return _to_push_result(event)

    async def _close(self, external_id: str) -> PushResult:
        before = await self._push_state(external_id)
        if before["rsvpSettings"]["rsvpsClosed"]:
            return _to_push_result(before)
        event = await self._mutate(
            q.CLOSE_RSVPS, "closeEventRsvps", {"eventId": external_id}, external_id
        )
        previous = before["maxTickets"] or 0
        if previous and event["maxTickets"] != previous:
            # Closing is known to wipe rsvpSettings; keep the limit so a reopen cannot
            # briefly open the event without one.
            event = await self._mutate(
                q.EDIT_EVENT, "editEvent", _edit_input(external_id, previous), external_id
            )
        return _to_push_result(event)

    async def _edit_limit(self, external_id: str, limit: int) -> PushResult:
        event = await self._mutate(
            q.EDIT_EVENT, "editEvent", _edit_input(external_id, limit), external_id
        )
        return _to_push_result(event)

    async def _push_state(self, external_id: str) -> dict[str, Any]:
        return _require_event(await self._gql(q.PUSH_STATE, {"id": external_id}), external_id)

    # -- creating, check-in ----------------------------------------------------------------

    async def create_event(self, draft: EventDraft) -> RemoteEvent:
        if not self._group_urlname:
            raise NotSupported(PLATFORM, "Choose the Meetup group before creating events there.")
        try:
            local_start = draft.starts_at.astimezone(ZoneInfo(draft.timezone))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise PlatformRejected(PLATFORM, "The event's time zone is not a known one.") from exc
        minutes = max(1, int((draft.ends_at - draft.starts_at).total_seconds() // 60))
        event_input: dict[str, Any] = {
            "groupUrlname": self._group_urlname,
            "title": draft.title[:80],
            "description": draft.description[:50_000],
            "startDateTime": local_start.strftime("%Y-%m-%dT%H:%M:%S"),
            "duration": f"PT{minutes}M",
            "rsvpSettings": {"rsvpLimit": draft.capacity or 0, "guestLimit": 0},
        }
        if draft.online_url:
            event_input["venueId"] = "online"
        data = await self._gql(q.CREATE_EVENT, {"input": event_input})
        created = _payload_event(data, "createEvent", "new event")
        return await self.get_event(str(created["id"]))

    async def mark_checkin(self, external_id: str, registration_id: str) -> None:
        raise NotSupported(
            PLATFORM, "Meetup's API cannot mark attendance; check-in stays on the dashboard."
        )

    # -- transport ---------------------------------------------------------------------------

    async def _mutate(
        self, document: str, field: str, input_: dict[str, Any], external_id: str
    ) -> dict[str, Any]:
        data = await self._gql(document, {"input": input_})
        return _payload_event(data, field, external_id)

    async def _gql(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = await self._session.request(
            "POST", GQL_PATH, json={"query": document, "variables": variables}
        )
        body = json_body(response)
        errors = body.get("errors") if isinstance(body, dict) else None
        raise_for_rate_limit(response, errors)
        if response.status_code >= 500:
            raise PlatformTransient(
                PLATFORM,
                f"Meetup had a server error ({response.status_code}).",
                code=str(response.status_code),
            )
        first = errors[0] if errors else {}
        code = str((first.get("extensions") or {}).get("code") or "")
        if response.status_code == 403 or code in _AUTH_CODES:
            raise PlatformAuthError(
                PLATFORM, "Meetup refused this account; reconnect it.", code=code or "403"
            )
        if response.status_code >= 400 or not isinstance(body, dict):
            raise PlatformRejected(
                PLATFORM,
                f"Meetup rejected the request: {_words(first.get('message'))}",
                code=code or str(response.status_code),
            )
        data = body.get("data")
        if errors and not data:
            if "NOT_FOUND" in code:
                raise PlatformNotFound(PLATFORM, "Meetup has no such event.", code=code)
            raise PlatformRejected(
                PLATFORM, f"Meetup rejected the request: {_words(first.get('message'))}", code=code
            )
        return data or {}


def raise_for_rate_limit(response: httpx.Response, errors: list[dict[str, Any]] | None) -> None:
    limited = next(
        (e for e in errors or [] if (e.get("extensions") or {}).get("code") == "RATE_LIMITED"),
        None,
    )
    if limited is None and response.status_code != 429:
        return
    wait = retry_after_seconds(response, DEFAULT_RATE_WAIT)
    reset_at = parse_datetime((limited or {}).get("extensions", {}).get("resetAt"))
    if reset_at is not None:
        wait = max(0.0, (reset_at - datetime.now(UTC)).total_seconds())
    raise PlatformRateLimited(
        PLATFORM, "Meetup asked us to slow down.", retry_after=wait, code="RATE_LIMITED"
    )


def _words(message: object) -> str:
    text = str(message or "no reason given").strip()
    return text[:300]


def _require_event(data: dict[str, Any], external_id: str) -> dict[str, Any]:
    event = data.get("event")
    if not event:
        raise PlatformNotFound(PLATFORM, f"Meetup has no event {external_id}.", code="NOT_FOUND")
    return event


def _payload_event(data: dict[str, Any], field: str, what: str) -> dict[str, Any]:
    payload = data.get(field) or {}
    errors = payload.get("errors") or []
    if errors:
        code = str(errors[0].get("code") or "")
        message = _words(errors[0].get("message"))
        if "NOT_FOUND" in code.upper():
            raise PlatformNotFound(PLATFORM, f"Meetup has no event {what}.", code=code)
        raise PlatformRejected(PLATFORM, f"Meetup refused the change: {message}", code=code)
    event = payload.get("event")
    if not event:
        raise PlatformRejected(PLATFORM, "Meetup answered without the event.", code="EMPTY")
    return event


def _edit_input(external_id: str, limit: int) -> dict[str, Any]:
    return {"eventId": external_id, "rsvpSettings": {"rsvpLimit": limit, "guestLimit": 0}}


def _state(event: dict[str, Any]) -> RemoteListingState:
    if event["rsvpSettings"]["rsvpsClosed"]:
        return RemoteListingState.SOLD_OUT
    limit = event["maxTickets"] or 0
    if limit and event["rsvps"]["yesCount"] >= limit:
        return (
            RemoteListingState.WAITLIST
            if event["waitlistMode"] == "AUTO"
            else RemoteListingState.SOLD_OUT
        )
    return RemoteListingState.OPEN


def _to_push_result(event: dict[str, Any]) -> PushResult:
    return PushResult(
        limit=event["maxTickets"] or None,
        going_count=event["rsvps"]["yesCount"],
        state=_state(event),
    )


def _to_event(event: dict[str, Any]) -> RemoteEvent:
    venues = event.get("venues") or []
    physical = next((v for v in venues if v.get("venueType") != "online"), None) or {}
    photo = event.get("featuredEventPhoto") or {}
    group = event.get("group") or {}
    starts_at = parse_datetime(event["dateTime"])
    if starts_at is None:
        raise PlatformRejected(PLATFORM, "Meetup sent an event without a start time.")
    return RemoteEvent(
        external_id=str(event["id"]),
        url=event.get("eventUrl") or "",
        title=event.get("title") or "",
        description=event.get("description") or "",
        starts_at=starts_at,
        ends_at=parse_datetime(event.get("endTime")),
        timezone=group.get("timezone") or "UTC",
        venue_name=physical.get("name"),
        address=physical.get("address"),
        city=physical.get("city"),
        country=(physical.get("country") or "").upper() or None,
        lat=physical.get("lat"),
        lon=physical.get("lon"),
        online_url=None,  # Meetup shows the online link to attendees only
        cover_url=photo.get("highResUrl") or photo.get("baseUrl"),
        capacity=event.get("maxTickets") or None,
        going_count=event["rsvps"]["yesCount"],
        waitlist_count=event["rsvps"]["waitlistCount"],
        status=_STATUS.get(str(event.get("status")), "live"),
        listing_state=_state(event),
    )


def _to_registration(node: dict[str, Any]) -> RemoteRegistration:
    member = node.get("member") or {}
    return RemoteRegistration(
        external_id=str(node["id"]),
        member_external_id=str(member.get("id") or ""),
        name=member.get("name") or "",
        email=None,  # Meetup hides other members' e-mail; people are matched by member id
        status=_RSVP_STATUS.get(str(node.get("status")), "cancelled"),
        checked_in_at=None,
        updated_at=parse_datetime(node.get("updated")),
        seats=1 + max(0, _int(node.get("guestsCount"))),
        photo_url=photo_url((member.get("memberPhoto") or {}).get("thumbUrl")),
    )


def _int(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0
