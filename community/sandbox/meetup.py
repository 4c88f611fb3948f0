"""Meetup stand-in: GraphQL at ``/gql-ext`` (``/gql`` answers 503 deprecated), OAuth2 pages.

Behaviour per docs/platforms.md (Meetup): ``rsvpLimit: 0`` means unlimited; with
``waitlistMode: AUTO`` RSVPs past the limit join the waitlist and are promoted when a seat
frees up or the limit rises; closing RSVPs wipes the limit (as a public client reported); a
points budget answers ``RATE_LIMITED`` with ``resetAt``.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import httpx
from litestar import Request, Response, post

from community.sandbox.common import SandboxPlatform
from community.sandbox.faults import WindowQuota
from community.sandbox.graphql_lite import (
    GraphQLError,
    Obj,
    check_input,
    parse,
    select,
    validate,
)
from community.sandbox.meetup_schema import SCHEMA, VENUE_FIELDS
from community.sandbox.oauth import OAuthServer, bearer_token
from community.sandbox.shapes import (
    Outcome,
    Person,
    Reply,
    SandboxHTTPError,
    SeedEvent,
    now,
    read_json,
)

GOING = ("YES", "ATTENDED")
DEPRECATED = {
    "message": "This API endpoint is deprecated and will be turned off soon. Please migrate "
    "to /gql-ext, see the migration guide: https://www.meetup.com/api/guide/#p06-migration-guide"
}
_EDIT_FIELDS = {
    "eventId",
    "title",
    "description",
    "startDateTime",
    "duration",
    "rsvpSettings",
    "venueOptions",
    "featuredPhotoId",
    "question",
}
_CREATE_FIELDS = {
    "groupUrlname",
    "title",
    "description",
    "startDateTime",
    "duration",
    "publishStatus",
    "rsvpSettings",
    "venueId",
    "eventHosts",
    "featuredPhotoId",
    "selfRsvp",
    "question",
}
_RSVP_SETTINGS = {
    "rsvpLimit",
    "guestLimit",
    "rsvpOpenTime",
    "rsvpCloseTime",
    "rsvpOpenDuration",
    "rsvpCloseDuration",
}


@dataclass
class Rsvp:
    id: str
    member_id: str
    name: str
    email: str | None
    status: str
    seq: int
    updated: datetime
    created: datetime
    guests: int = 0  # guestsCount: +1s who take a spot each
    photo_url: str | None = None

    @property
    def spots(self) -> int:
        return 1 + self.guests


@dataclass
class MeetupEvent:
    id: str
    token: str
    title: str
    description: str
    starts_at: datetime
    ends_at: datetime
    timezone: str
    venue: dict[str, Any] | None
    online: bool
    photo_url: str | None
    rsvp_limit: int = 0
    guest_limit: int = 2
    waitlist_mode: str = "AUTO"
    closed: bool = False
    status: str = "ACTIVE"
    created: datetime = field(default_factory=now)
    rsvps: dict[str, Rsvp] = field(default_factory=dict)

    def count(self, *statuses: str) -> int:
        return sum(1 for r in self.rsvps.values() if r.status in statuses)

    def spots(self, *statuses: str) -> int:
        """Spots taken, guests included: what yesCount and rsvpLimit count."""
        return sum(r.spots for r in self.rsvps.values() if r.status in statuses)

    def fits(self, spots: int) -> bool:
        return not self.rsvp_limit or self.spots(*GOING) + spots <= self.rsvp_limit


class MeetupSandbox(SandboxPlatform):
    name = "meetup"
    api_prefixes = ("/gql-ext",)

    def __init__(
        self,
        *,
        client_id: str = "sandbox-meetup-client",
        client_secret: str = "sandbox-meetup-secret",
        access_token: str = "sandbox-meetup-token",
        refresh_token: str = "sandbox-meetup-refresh",
        group_urlname: str = "sandbox-community",
        group_timezone: str = "UTC",
        lower_below_yes: Literal["accept", "reject"] = "accept",
        close_wipes_settings: bool = True,
        rate_limit_status: int = 200,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(webhook_transport=webhook_transport)
        self.oauth = OAuthServer(
            client_id=client_id,
            client_secret=client_secret,
            refreshable=True,
            expires_in=3600,
            access_token=access_token,
            refresh_token=refresh_token,
        )
        self._initial = {"access_token": access_token, "refresh_token": refresh_token}
        self.group_urlname = group_urlname
        self.group_timezone = group_timezone
        self.lower_below_yes = lower_below_yes
        self.close_wipes_settings = close_wipes_settings
        self.rate_limit_status = rate_limit_status
        self.events: dict[str, MeetupEvent] = {}
        # Real ids are unique across every account; start each stand-in at its own point so
        # several stand-ins (tests, demo restarts) never hand out the same event id.
        self._ids = itertools.count(300_000_001 + secrets.randbelow(90_000) * 1_000)
        self._seq = itertools.count(1)
        self._members: dict[str, str] = {}
        self.me = {"id": "200000001", "name": "Sandbox Organiser", "email": "organiser@example.org"}

    def credentials(self) -> dict[str, str]:
        return {
            "client_id": self.oauth.client_id,
            "client_secret": self.oauth.client_secret,
            "group_urlname": self.group_urlname,
            **self._initial,
        }

    def expire_tokens(self) -> None:
        self.oauth.expire_access_tokens()

    # -- gate hooks ------------------------------------------------------------------------

    def default_budget(self) -> WindowQuota:
        return WindowQuota(500, 60.0)

    def authorized(self, headers: dict[str, str], query: str) -> Reply | None:
        token = bearer_token(headers, "")
        if token and self.oauth.valid(token):
            return None
        return self.error_reply(401, "Invalid or expired access token.", "UNAUTHENTICATED")

    def error_reply(self, status: int, message: str, code: str | None = None) -> Reply:
        code = code or {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(
            status, "INTERNAL_SERVER_ERROR"
        )
        return Reply(status, {"errors": [{"message": message, "extensions": {"code": code}}]})

    def rate_limited_reply(self, reset_in: float) -> Reply:
        # Rounded up to the second: the announced reset is never earlier than the real one.
        when = now() + timedelta(seconds=reset_in)
        if when.microsecond:
            when = when.replace(microsecond=0) + timedelta(seconds=1)
        reset_at = when.isoformat(timespec="seconds")
        error = {
            "message": "Too many requests, please try again later.",
            "extensions": {
                "code": "RATE_LIMITED",
                "consumedPoints": self.budget.used,
                "resetAt": reset_at,
            },
        }
        return Reply(self.rate_limit_status, {"data": None, "errors": [error]})

    # -- routes ------------------------------------------------------------------------------

    def api_handlers(self) -> list[Any]:
        sandbox = self

        @post("/gql-ext")
        async def graphql(request: Request[Any, Any, Any]) -> Response[Any]:
            body = await read_json(request)
            if not isinstance(body, dict) or not isinstance(body.get("query"), str):
                raise SandboxHTTPError(400, "Send a JSON body with a query string.")
            variables = body.get("variables") or {}
            if not isinstance(variables, dict):
                raise SandboxHTTPError(400, "variables must be an object.")
            try:
                operation = parse(body["query"])
                validate(operation.selections, SCHEMA, operation.kind.title())
                root = sandbox._mutation() if operation.kind == "mutation" else sandbox._query()
                data = select(root, operation.selections, variables)
            except GraphQLError as exc:
                return Reply(400, {"errors": [_error(exc)]}).response()
            return Response(content={"data": data}, status_code=200)

        return [graphql]

    def extra_handlers(self) -> list[Any]:
        @post("/gql", status_code=503, sync_to_thread=False)
        def deprecated() -> dict[str, str]:
            return DEPRECATED

        return [deprecated, *self.oauth.handlers("/oauth2/authorize", "/oauth2/access")]

    # -- GraphQL roots -----------------------------------------------------------------------

    def _query(self) -> Obj:
        return Obj(
            "Query",
            {
                "event": lambda id: self._event_obj(self.events.get(str(id))),
                "self": Obj(
                    "Member",
                    {
                        "id": self.me["id"],
                        "name": self.me["name"],
                        "email": self.me["email"],
                        "memberUrl": f"{self.public_url}/members/{self.me['id']}/",
                    },
                ),
            },
        )

    def _mutation(self) -> Obj:
        return Obj(
            "Mutation",
            {
                "editEvent": lambda input: self._edit(input),
                "closeEventRsvps": lambda input: self._set_closed(
                    input, "CloseEventRsvpsInput", True
                ),
                "openEventRsvps": lambda input: self._set_closed(
                    input, "OpenEventRsvpsInput", False
                ),
                "createEvent": lambda input: self._create(input),
            },
        )

    def _payload(self, typename: str, event: MeetupEvent | None, errors: list[Obj]) -> Obj:
        return Obj(typename, {"event": self._event_obj(event), "errors": errors})

    def _lookup(self, input_: dict[str, Any], typename: str) -> MeetupEvent | None:
        if "eventId" not in input_:
            raise GraphQLError(
                f'Field "eventId" of required type "ID!" was not provided ({typename}).'
            )
        return self.events.get(str(input_["eventId"]))

    def _edit(self, input_: Any) -> Obj:
        input_ = check_input(input_, "EditEventInput", _EDIT_FIELDS)
        event = self._lookup(input_, "EditEventInput")
        if event is None:
            return self._payload(
                "EditEventPayload",
                None,
                [_payload_error("EVENT_NOT_FOUND", "eventId", "Event not found.")],
            )
        settings = input_.get("rsvpSettings")
        if settings is not None:
            settings = check_input(settings, "RsvpSettings", _RSVP_SETTINGS)
            if "rsvpLimit" in settings:
                limit = settings["rsvpLimit"]
                if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
                    error = _payload_error(
                        "INVALID_RSVP_LIMIT",
                        "rsvpSettings.rsvpLimit",
                        "rsvpLimit must be 0 or more.",
                    )
                    return self._payload("EditEventPayload", event, [error])
                if 0 < limit < event.spots(*GOING) and self.lower_below_yes == "reject":
                    error = _payload_error(
                        "RSVP_LIMIT_TOO_LOW",
                        "rsvpSettings.rsvpLimit",
                        "The RSVP limit cannot be lower than the number of people going.",
                    )
                    return self._payload("EditEventPayload", event, [error])
                event.rsvp_limit = limit
            if isinstance(settings.get("guestLimit"), int):
                event.guest_limit = settings["guestLimit"]
        if isinstance(input_.get("title"), str):
            event.title = input_["title"][:80]
        if isinstance(input_.get("description"), str):
            event.description = input_["description"]
        self._promote(event)
        return self._payload("EditEventPayload", event, [])

    def _set_closed(self, input_: Any, typename: str, closed: bool) -> Obj:
        input_ = check_input(input_, typename, {"eventId"})
        payload = typename.replace("Input", "Payload")
        event = self._lookup(input_, typename)
        if event is None:
            return self._payload(
                payload, None, [_payload_error("EVENT_NOT_FOUND", "eventId", "Event not found.")]
            )
        event.closed = closed
        if closed and self.close_wipes_settings:
            event.rsvp_limit = 0
        self._promote(event)
        return self._payload(payload, event, [])

    def _create(self, input_: Any) -> Obj:
        input_ = check_input(input_, "CreateEventInput", _CREATE_FIELDS)
        for required in ("groupUrlname", "title", "description", "startDateTime"):
            if required not in input_:
                raise GraphQLError(
                    f'Field "{required}" of required type was not provided (CreateEventInput).'
                )
        errors: list[Obj] = []
        if input_["groupUrlname"] != self.group_urlname:
            errors.append(_payload_error("GROUP_NOT_FOUND", "groupUrlname", "No such group."))
        if len(str(input_["title"])) > 80:
            errors.append(
                _payload_error("TITLE_TOO_LONG", "title", "Titles have at most 80 characters.")
            )
        try:
            start = datetime.fromisoformat(str(input_["startDateTime"]))
        except ValueError:
            start = None
            errors.append(
                _payload_error("INVALID_DATE", "startDateTime", "Use a local date and time.")
            )
        if errors or start is None:
            return Obj("CreateEventPayload", {"event": None, "errors": errors})
        tz = ZoneInfo(self.group_timezone)
        start = start.replace(tzinfo=tz) if start.tzinfo is None else start
        minutes = _duration_minutes(input_.get("duration")) or 120
        settings = input_.get("rsvpSettings") or {}
        check_input(settings, "RsvpSettings", _RSVP_SETTINGS)
        online = input_.get("venueId") == "online"
        seed = SeedEvent(
            title=str(input_["title"]),
            description=str(input_["description"]),
            starts_at=start,
            ends_at=start + timedelta(minutes=minutes),
            timezone=self.group_timezone,
            online_url="online" if online else None,
            limit=int(settings.get("rsvpLimit") or 0),
        )
        event = self.events[self.seed_event(seed)]
        event.guest_limit = int(settings.get("guestLimit", 2))
        if input_.get("publishStatus") == "DRAFT":
            event.status = "DRAFT"
        return Obj("CreateEventPayload", {"event": self._event_obj(event), "errors": []})

    # -- object graph ------------------------------------------------------------------------

    def _event_obj(self, event: MeetupEvent | None) -> Obj | None:
        if event is None:
            return None
        tz = ZoneInfo(event.timezone)
        venues = [Obj("Venue", event.venue)] if event.venue else []
        if event.online:
            venues.append(
                Obj("Venue", _venue(id="online", name="Online event", venueType="online"))
            )
        photo = None
        if event.photo_url:
            photo = Obj(
                "PhotoInfo",
                {
                    "id": "1",
                    "baseUrl": event.photo_url,
                    "highResUrl": event.photo_url,
                    "standardUrl": event.photo_url,
                    "thumbUrl": event.photo_url,
                },
            )
        return Obj(
            "Event",
            {
                "id": event.id,
                "token": event.token,
                "title": event.title,
                "description": event.description,
                "eventUrl": f"{self.public_url}/{self.group_urlname}/events/{event.id}/",
                "status": event.status,
                "eventType": "ONLINE" if event.online and not event.venue else "PHYSICAL",
                "dateTime": event.starts_at.astimezone(tz).isoformat(timespec="seconds"),
                "endTime": event.ends_at.astimezone(tz).isoformat(timespec="seconds"),
                "duration": f"PT{int((event.ends_at - event.starts_at).total_seconds() // 60)}M",
                "createdTime": event.created.isoformat(timespec="seconds"),
                "maxTickets": event.rsvp_limit,
                "waitlistMode": event.waitlist_mode,
                "guestsAllowed": event.guest_limit > 0,
                "numberOfAllowedGuests": event.guest_limit,
                "rsvpSettings": Obj(
                    "RsvpSettings",
                    {"rsvpOpenTime": None, "rsvpCloseTime": None, "rsvpsClosed": event.closed},
                ),
                "featuredEventPhoto": photo,
                "venues": venues,
                "group": Obj(
                    "Group",
                    {
                        "id": "9000001",
                        "urlname": self.group_urlname,
                        "name": "Sandbox Community",
                        "timezone": event.timezone,
                    },
                ),
                "rsvps": lambda first=20, after=None, filter=None, sort=None: self._rsvps(
                    event, first, after, filter, sort
                ),
            },
        )

    def _rsvps(self, event: MeetupEvent, first: Any, after: Any, filter_: Any, sort: Any) -> Obj:
        if not isinstance(first, int) or isinstance(first, bool) or not 1 <= first <= 1000:
            raise GraphQLError("first must be between 1 and 1000.", "BAD_USER_INPUT")
        statuses = set(
            check_input(filter_ or {}, "RsvpFilter", {"rsvpStatus"}).get("rsvpStatus") or GOING
        )
        sort = check_input(sort or {}, "RsvpSort", {"sortField", "sortOrder"})
        by_update = sort.get("sortField") == "DATETIME"
        descending = sort.get("sortOrder") == "DESC"

        def key(rsvp: Rsvp) -> tuple[str, int]:
            return ((rsvp.updated if by_update else rsvp.created).isoformat(), rsvp.seq)

        items = sorted(
            (r for r in event.rsvps.values() if r.status in statuses), key=key, reverse=descending
        )
        if after is not None:
            mark = _decode_cursor(after)
            items = [r for r in items if (key(r) < mark if descending else key(r) > mark)]
        page = items[:first]
        edges = [
            Obj("RsvpEdge", {"cursor": _encode_cursor(key(r)), "node": self._rsvp_obj(r)})
            for r in page
        ]
        page_info = Obj(
            "PageInfo",
            {
                "hasNextPage": len(items) > first,
                "hasPreviousPage": after is not None,
                "startCursor": _encode_cursor(key(page[0])) if page else None,
                "endCursor": _encode_cursor(key(page[-1])) if page else None,
            },
        )
        total = sum(1 for r in event.rsvps.values() if r.status in statuses)
        return Obj(
            "RsvpConnection",
            {
                "totalCount": total,
                # Meetup counts a member's guests as going with them.
                "yesCount": event.spots(*GOING),
                "waitlistCount": event.spots("WAITLIST"),
                "noCount": event.count("NO"),
                "pageInfo": page_info,
                "edges": edges,
            },
        )

    def _rsvp_obj(self, rsvp: Rsvp) -> Obj:
        member = Obj(
            "Member",
            {
                "id": rsvp.member_id,
                "name": rsvp.name,
                "username": rsvp.name.lower().replace(" ", ""),
                "memberUrl": f"{self.public_url}/members/{rsvp.member_id}/",
                "memberPhoto": None
                if rsvp.photo_url is None
                else Obj("PhotoInfo", {"id": rsvp.member_id, "thumbUrl": rsvp.photo_url}),
                "email": None,  # other members' e-mail is not shared with organisers
            },
        )
        return Obj(
            "Rsvp",
            {
                "id": rsvp.id,
                "status": rsvp.status,
                "guestsCount": rsvp.guests,
                "isHost": False,
                "updated": rsvp.updated.isoformat(timespec="milliseconds"),
                "member": member,
            },
        )

    # -- control operations ------------------------------------------------------------------

    def seed_event(self, seed: SeedEvent) -> str:
        event_id = str(next(self._ids))
        venue = None
        if seed.venue_name:
            venue = _venue(
                id=str(next(self._ids)),
                name=seed.venue_name,
                address=seed.address,
                city=seed.city,
                country=(seed.country or "").lower() or None,
                lat=seed.lat,
                lon=seed.lon,
                venueType=None,
            )
        self.events[event_id] = MeetupEvent(
            id=event_id,
            token=secrets.token_hex(6),
            title=seed.title,
            description=seed.description,
            starts_at=seed.starts_at,
            ends_at=seed.end,
            timezone=seed.timezone,
            venue=venue,
            online=bool(seed.online_url),
            photo_url=seed.cover_url,
            rsvp_limit=seed.limit or 0,
            waitlist_mode="AUTO" if seed.waitlist else "OFF",
        )
        return event_id

    def _event(self, event_id: str) -> MeetupEvent:
        event = self.events.get(event_id)
        if event is None:
            raise SandboxHTTPError(404, f"No event {event_id}.", "NOT_FOUND")
        return event

    def _member_id(self, person: Person) -> str:
        if person.member_id:
            return person.member_id
        key = (person.email or person.name).lower()
        if key not in self._members:
            self._members[key] = str(int(hashlib.sha256(key.encode()).hexdigest()[:8], 16))
        return self._members[key]

    def add_registration(self, event_id: str, person: Person) -> Outcome:
        event = self._event(event_id)
        member_id = self._member_id(person)
        existing = next((r for r in event.rsvps.values() if r.member_id == member_id), None)
        if existing and existing.status in (*GOING, "WAITLIST"):
            status = "going" if existing.status in GOING else "waitlist"
            return Outcome(status, existing.id, "already registered")
        if event.closed:
            return Outcome("refused", None, "RSVPs are closed.")
        if person.guests > event.guest_limit:
            return Outcome("refused", None, f"At most {event.guest_limit} guests per member.")
        full = not event.fits(1 + person.guests)
        if full and event.waitlist_mode != "AUTO":
            return Outcome("refused", None, "This event is full.")
        stamp = now()
        rsvp = existing or Rsvp(
            id=str(next(self._ids)),
            member_id=member_id,
            name=person.name,
            email=person.email,
            status="NO",
            seq=0,
            updated=stamp,
            created=stamp,
        )
        rsvp.status, rsvp.seq, rsvp.updated = (
            ("WAITLIST" if full else "YES"),
            next(self._seq),
            stamp,
        )
        rsvp.guests = person.guests
        rsvp.photo_url = person.photo_url
        event.rsvps[rsvp.id] = rsvp
        return Outcome("waitlist" if full else "going", rsvp.id)

    def _rsvp(self, event: MeetupEvent, registration_id: str) -> Rsvp:
        rsvp = event.rsvps.get(registration_id)
        if rsvp is None:
            raise SandboxHTTPError(404, f"No RSVP {registration_id}.", "NOT_FOUND")
        return rsvp

    def cancel_registration(self, event_id: str, registration_id: str) -> dict[str, Any]:
        event = self._event(event_id)
        rsvp = self._rsvp(event, registration_id)
        rsvp.status, rsvp.updated = "NO", now()
        self._promote(event)
        return _rsvp_state(rsvp)

    def set_guests(self, event_id: str, registration_id: str, guests: int) -> dict[str, Any]:
        """The member changes how many guests they bring (fewer always; more if they fit)."""
        event = self._event(event_id)
        rsvp = self._rsvp(event, registration_id)
        if guests > rsvp.guests:
            if guests > event.guest_limit:
                raise SandboxHTTPError(400, f"At most {event.guest_limit} guests per member.")
            if rsvp.status in GOING and not event.fits(guests - rsvp.guests):
                raise SandboxHTTPError(400, "Not enough spots left for more guests.")
        rsvp.guests, rsvp.updated = guests, now()
        self._promote(event)
        return _rsvp_state(rsvp)

    def check_in(self, event_id: str, registration_id: str) -> dict[str, Any]:
        rsvp = self._rsvp(self._event(event_id), registration_id)
        rsvp.status, rsvp.updated = "ATTENDED", now()
        return _rsvp_state(rsvp)

    def _promote(self, event: MeetupEvent) -> None:
        """AUTO waitlist: the next member in line claims each free seat."""
        if event.closed or event.waitlist_mode != "AUTO":
            return
        waiting = sorted(
            (r for r in event.rsvps.values() if r.status == "WAITLIST"), key=lambda r: r.seq
        )
        for rsvp in waiting:
            if not event.fits(rsvp.spots):
                break
            rsvp.status, rsvp.updated = "YES", now()

    def event_ids(self) -> list[str]:
        return list(self.events)

    def event_state(self, event_id: str) -> dict[str, Any]:
        event = self._event(event_id)
        return {
            "id": event.id,
            "title": event.title,
            "limit": event.rsvp_limit or None,
            "open": not event.closed,
            "waitlist_mode": event.waitlist_mode,
            "going": event.spots(*GOING),
            "waitlist": event.spots("WAITLIST"),
            "cancelled": event.count("NO"),
            "registrations": [_rsvp_state(r) for r in event.rsvps.values()],
        }


def _venue(**fields: Any) -> dict[str, Any]:
    return {key: fields.get(key) for key in VENUE_FIELDS}


def _rsvp_state(rsvp: Rsvp) -> dict[str, Any]:
    return {
        "id": rsvp.id,
        "member_id": rsvp.member_id,
        "name": rsvp.name,
        "status": rsvp.status,
        "guests": rsvp.guests,
    }


def _payload_error(code: str, field_name: str, message: str) -> Obj:
    return Obj("PayloadError", {"code": code, "field": field_name, "message": message})


def _error(exc: GraphQLError) -> dict[str, Any]:
    return {"message": exc.message, "extensions": {"code": exc.code}}


def _encode_cursor(key: tuple[str, int]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def _decode_cursor(cursor: Any) -> tuple[str, int]:
    try:
        stamp, seq = json.loads(base64.urlsafe_b64decode(str(cursor).encode()))
        return str(stamp), int(seq)
    except (ValueError, TypeError) as exc:
        raise GraphQLError("Invalid cursor.", "BAD_USER_INPUT") from exc


def _duration_minutes(value: Any) -> int | None:
    match = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?", str(value or ""))
    if not match or not any(match.groups()):
        return None
    return int(match.group(1) or 0) * 60 + int(match.group(2) or 0)
