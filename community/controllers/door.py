"""The door: a phone page that scans tickets, and the JSON endpoints it (and its offline queue)
calls. Parsing and rendering only; community.services.door decides."""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal
from uuid import UUID

import asyncpg
from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig
from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.exceptions import (
    ClientException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
)
from litestar.response import Template
from litestar.types import ASGIApp, Receive, Scope, Send
from msgspec import Meta, Struct
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from community.auth import (
    DOOR,
    DOOR_TOKEN_HEADER,
    DOOR_TOKEN_SECONDS,
    door_tokens,
    is_signed_out,
    load_user,
    session_user,
)
from community.config import Settings
from community.db import driver_connection, session_driver
from community.errors import (
    NOT_JSON,
    SIGN_IN,
    TOO_LARGE,
    UNAVAILABLE,
    WRONG_ROLE,
    error_spec,
)
from community.models import Event, Role, User
from community.services.access.scope import door_sees_emails
from community.services.door import ops as door_ops
from community.services.door import roster as door_roster
from community.services.door import scan as door_scan
from community.services.door import staff as door_staff
from community.services.door.outcomes import (
    Actor,
    CheckinInputError,
    Op,
    ScanOutcome,
    platform_checkins,
)
from community.services.door.roster import RosterEntry
from community.services.door.staff import Staff
from community.services.tickets.signatures import ticket_signer
from community.sessions import SESSION_ID_KEY
from community.templating import asset

STATIC = Path(__file__).resolve().parent.parent.parent / "static"
# Everything the door page needs to start without a network, cached by its service worker.
OFFLINE_ASSETS = (
    "css/app.css",
    "door/door.css",
    "door/door.js",
    "door/signout.js",
    "door/decoder-worker.js",
    "door/vendor/jsQR.js",
    "door/vendor/noble-ed25519.js",
)
MAX_OPS_PER_SYNC = 500
SYNC_MAX_BODY = 512 * 1024  # a door that was offline for a while sends up to 500 scans at once
DOOR_ROLES: frozenset[Role] = frozenset(DOOR.roles)
ROSTER_FIELDS = (
    "id",
    "name",
    "email",
    "channel",
    "status",
    "checked_in_at",
    "checked_in_by",
    "guests",
)

Token = Annotated[str, Meta(max_length=512)]
Device = Annotated[str, Meta(max_length=200)]


class CheckinBody(Struct, forbid_unknown_fields=True):
    device: Device
    token: Token | None = None
    registration_id: UUID | None = None
    op_id: UUID | None = None


class UndoBody(Struct, forbid_unknown_fields=True):
    device: Device
    registration_id: UUID
    op_id: UUID | None = None


class QueuedOp(Struct, forbid_unknown_fields=True):
    op_id: UUID
    scanned_at: datetime
    kind: Literal["checkin", "undo"] = "checkin"
    token: Token | None = None
    registration_id: UUID | None = None


class SyncBody(Struct, forbid_unknown_fields=True):
    device: Device
    ops: Annotated[list[QueuedOp], Meta(max_length=MAX_OPS_PER_SYNC)]


# Documented statuses (one error shape, community.errors); reads, then writes.
DOOR_READ_ERRORS = {
    400: error_spec(400, "A parameter is malformed", "q: at most 200 characters."),
    401: SIGN_IN,
    403: WRONG_ROLE,
    404: error_spec(404, "No such event", "No such event."),
    503: UNAVAILABLE,
}
DOOR_WRITE_ERRORS = {**DOOR_READ_ERRORS, 413: TOO_LARGE, 415: NOT_JSON}


def json_only(app: ASGIApp) -> ASGIApp:
    """A cross-site form cannot send JSON without asking first, so POSTs must be JSON.

    A middleware rather than a guard: it must come before the body is read, and a guard
    costs Litestar a copy of the route handler on every request.
    """

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and scope["method"] == "POST":
            content_type = next((v for k, v in scope["headers"] if k == b"content-type"), b"")
            if content_type.split(b";")[0].strip().lower() != b"application/json":
                raise ClientException(
                    "Send JSON (Content-Type: application/json).", status_code=415
                )
        await app(scope, receive, send)

    return middleware


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def outcome_json(outcome: ScanOutcome) -> dict[str, Any]:
    person = outcome.attendee
    return {
        "result": outcome.result.value,
        "tone": outcome.tone,
        "message": outcome.message,
        "op_id": outcome.op_id,
        "replayed": outcome.replayed,
        "scanned_at": _iso(outcome.scanned_at),
        "attendee": None
        if person is None
        else {
            "id": person.id,
            "name": person.name,
            "channel": person.channel,
            "status": person.status,
            "checked_in_at": _iso(person.checked_in_at),
            "checked_in_by": person.checked_in_by,
        },
        "superseded": None
        if outcome.superseded is None
        else {"at": _iso(outcome.superseded[0]), "by": outcome.superseded[1]},
    }


def _row(entry: RosterEntry, staff: Staff) -> list[Any]:
    return [
        entry.id,
        entry.name,
        # Door staff find people by name or by the address they say, but are shown none.
        (entry.email or "") if door_sees_emails(staff) else "",
        entry.channel,
        entry.status,
        _iso(entry.checked_in_at),
        entry.checked_in_by,
        entry.guests,
    ]


def event_json(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "title": event.title,
        "starts_at": _iso(event.starts_at),
        "timezone": event.timezone,
        "status": event.status,
        "venue": event.venue_name,
    }


async def _event(session: AsyncSession, event_id: UUID, staff: Staff | User) -> Event:
    event = await door_roster.door_event(session, event_id, staff)
    if event is None:
        raise NotFoundException("No such event.")
    return event


async def provide_door_user(request: Request[Any, Any, Any]) -> Staff:
    """Who is at the door: from the door token header, else from the session cookie.

    The door API is outside the session middleware (see community.auth). A token is checked
    with its HMAC, and its user read at most every few seconds per process (a disabled
    account is refused within door.staff.STAFF_CACHE_SECONDS); without one, the session is read
    from its store and the user re-read on every request. A token dies with the sign-in that
    asked for it (sign-out: at once; a password reset: within the same seconds as a disabled
    account). A handler that only needs this
    (the key, a check-in with the user remembered) takes no database connection for it.
    """
    state = request.app.state
    token = request.headers.get(DOOR_TOKEN_HEADER)
    if token is not None:
        settings: Settings = state["settings"]
        claim = door_tokens(settings.secret_key).verify(token)
        if claim is None or (
            claim.sid and await is_signed_out(state["redis"], settings.redis_prefix, claim.sid)
        ):
            raise NotAuthorizedException("Your door sign-in has expired: reload the page.")
        user = await door_staff.active_user_cached(_engine(request), claim.user_id)
        version = claim.session_version
    else:
        signed_in = await session_user(request)
        user = None
        if signed_in is not None:
            async with driver_connection(_engine(request)) as conn:
                user = await door_staff.active_user(conn, signed_in.user_id)
            version = signed_in.version
    if user is None or user.session_version != version:
        raise NotAuthorizedException("Please sign in.")
    if Role(user.role) not in DOOR_ROLES:
        raise PermissionDeniedException("Your account cannot use the door.")
    return user


async def _page_user(request: Request[Any, Any, Any]) -> User:
    user = await load_user(request)  # the DOOR guard has read it already
    if user is None:
        raise NotAuthorizedException("Please sign in.")
    return user


def _engine(request: Request[Any, Any, Any]) -> AsyncEngine:
    config: SQLAlchemyAsyncConfig = request.app.state["db_config"]
    return config.get_engine()


def _actor(user: Staff, device: str) -> Actor:
    try:
        return Actor.parse(user.id, device)
    except CheckinInputError as exc:
        raise ClientException(str(exc)) from None


async def _known_event(conn: asyncpg.Connection, event_id: UUID, staff: Staff) -> None:
    if not await door_staff.event_exists(conn, event_id, staff):
        raise NotFoundException("No such event.")


def _queued_op(queued: QueuedOp) -> Op:
    if queued.kind == "undo" and queued.registration_id is None:
        raise ClientException("ops: an undo needs its registration_id.")
    if queued.kind == "checkin" and (queued.token is None) == (queued.registration_id is None):
        raise ClientException("ops: a check-in needs a token or a registration_id.")
    return Op(
        kind=queued.kind,
        token=queued.token,
        registration_id=queued.registration_id,
        op_id=queued.op_id,
        scanned_at=queued.scanned_at,
        offline=True,
    )


def _bad_input(exc: CheckinInputError) -> ClientException:
    return ClientException(str(exc))


@cache
def _service_worker_source() -> str:
    return (STATIC / "door" / "sw.js").read_text()


class DoorPagesController(Controller):
    path = "/door"
    guards = [DOOR]
    include_in_schema = False

    @get("/", cache=False)
    async def events(self, request: Request[Any, Any, Any], db_session: AsyncSession) -> Template:
        user = await _page_user(request)
        cards = await door_roster.door_events(db_session, user)
        return Template("door/events.html", context={"cards": cards, "user": user})

    @get("/events/{event_id:uuid}", cache=False)
    async def scanner(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, event_id: UUID
    ) -> Template:
        user = await _page_user(request)
        event = await _event(db_session, event_id, user)
        return Template(
            "door/scan.html",
            context={
                "event": event,
                "user": user,
                "assets": {
                    "worker": asset("door/decoder-worker.js"),
                    "jsqr": asset("door/vendor/jsQR.js"),
                    "noble": asset("door/vendor/noble-ed25519.js"),
                },
            },
        )

    @get("/token", cache=False)
    async def token(
        self, request: Request[Any, Any, Any], settings: Settings
    ) -> Response[dict[str, Any]]:
        """A door token for the API calls of the door page (see community.auth.DoorTokens).

        Asking for one renews the session too, which the API calls themselves do not touch.
        """
        user = await load_user(request)  # the DOOR guard has read it already
        if user is None:
            raise NotAuthorizedException("Please sign in.")
        token = door_tokens(settings.secret_key).issue(
            user.id,
            user.role,
            session_version=user.session_version,
            sid=str(request.session.get(SESSION_ID_KEY, "")),
        )
        return Response(
            {"token": token, "expires_in": DOOR_TOKEN_SECONDS},
            headers={"Cache-Control": "no-store"},
        )


class DoorServiceWorkerController(Controller):
    """Served from /door/ (not /static/) so that it may control the door pages."""

    path = "/door"
    include_in_schema = False

    @get("/sw.js", cache=False)
    async def service_worker(self) -> Response[str]:
        assets = [asset(path) for path in OFFLINE_ASSETS]
        version = "-".join(url.rsplit("=", 1)[-1] for url in assets)
        header = f"const ASSETS = {json.dumps(assets)};\nconst VERSION = {json.dumps(version)};\n"
        return Response(
            header + _service_worker_source(),
            media_type="text/javascript",
            headers={"Cache-Control": "no-cache"},
        )


class DoorApiController(Controller):
    """Every handler here takes `door_user`: that dependency is what signs the door in."""

    path = "/door/api"
    middleware = [json_only]
    dependencies = {"door_user": Provide(provide_door_user)}
    tags = ["Door check-in"]

    @get(
        "/key",
        cache=False,
        summary="The public key that verifies tickets",
        responses={401: SIGN_IN, 403: WRONG_ROLE},
    )
    async def key(self, settings: Settings, door_user: Staff) -> dict[str, Any]:
        return ticket_signer(settings.secret_key).public_info()

    @get(
        "/events/{event_id:uuid}/roster",
        cache=False,
        summary="Everyone registered, for offline use",
        responses=DOOR_READ_ERRORS,
    )
    async def roster(
        self,
        settings: Settings,
        db_session: AsyncSession,
        door_user: Staff,
        event_id: UUID,
        since: datetime | None = None,
    ) -> dict[str, Any]:
        event = await _event(db_session, event_id, door_user)
        roster = await door_roster.roster(db_session, event_id, since=since)
        return {
            "event": event_json(event),
            "key": ticket_signer(settings.secret_key).public_info(),
            "generated_at": _iso(roster.generated_at),
            "full": roster.full,
            "counts": {"checked_in": roster.counts.checked_in, "expected": roster.counts.expected},
            "fields": ROSTER_FIELDS,
            "people": [_row(entry, door_user) for entry in roster.entries],
        }

    @get(
        "/events/{event_id:uuid}/counts",
        cache=False,
        summary="Checked in / expected",
        responses=DOOR_READ_ERRORS,
    )
    async def counts(
        self, db_session: AsyncSession, door_user: Staff, event_id: UUID
    ) -> dict[str, int]:
        await _event(db_session, event_id, door_user)
        counts = await door_roster.counts(db_session, event_id)
        return {"checked_in": counts.checked_in, "expected": counts.expected}

    @get(
        "/events/{event_id:uuid}/search",
        cache=False,
        summary="Find people by name or e-mail",
        responses=DOOR_READ_ERRORS,
    )
    async def search(
        self,
        db_session: AsyncSession,
        door_user: Staff,
        event_id: UUID,
        q: Annotated[str, Meta(max_length=200)] = "",
    ) -> dict[str, Any]:
        await _event(db_session, event_id, door_user)
        try:
            found = await door_roster.search(db_session, event_id, q)
        except CheckinInputError as exc:
            raise _bad_input(exc) from None
        return {"fields": ROSTER_FIELDS, "people": [_row(entry, door_user) for entry in found]}

    @post(
        "/events/{event_id:uuid}/checkins",
        status_code=200,
        summary="Check one person in",
        responses=DOOR_WRITE_ERRORS,
    )
    async def check_in(
        self,
        request: Request[Any, Any, Any],
        door_user: Staff,
        event_id: UUID,
        data: CheckinBody,
    ) -> Response[dict[str, Any]]:
        # The busiest endpoint: one pooled connection, raw statements, and no dependency but
        # the door user (each further one costs Litestar a task per request).
        actor = _actor(door_user, data.device)
        state = request.app.state
        signer = ticket_signer(state["settings"].secret_key)
        op = Op(token=data.token, registration_id=data.registration_id, op_id=data.op_id)
        async with driver_connection(_engine(request)) as conn:
            if not await door_staff.event_exists(conn, event_id, door_user):
                raise NotFoundException("No such event.")
            try:
                outcome = await door_scan.check_in_online(conn, signer, event_id, op, actor)
            except CheckinInputError as exc:
                raise _bad_input(exc) from None
        # The platform hand-back is queued a moment later, with those of other scans.
        state["passback"].add(platform_checkins([outcome]))
        return Response(outcome_json(outcome))

    @post(
        "/events/{event_id:uuid}/undo",
        status_code=200,
        summary="Take a check-in back",
        responses=DOOR_WRITE_ERRORS,
    )
    async def undo(
        self,
        door_user: Staff,
        db_session: AsyncSession,
        event_id: UUID,
        data: UndoBody,
    ) -> dict[str, Any]:
        actor = _actor(door_user, data.device)
        op = Op(kind="undo", registration_id=data.registration_id, op_id=data.op_id)
        async with session_driver(db_session) as conn:
            await _known_event(conn, event_id, door_user)
            outcome = await door_ops.undo(conn, event_id, op, actor)
        return outcome_json(outcome)

    @post(
        "/events/{event_id:uuid}/sync",
        status_code=200,
        summary="Apply a door's offline queue",
        responses=DOOR_WRITE_ERRORS,
        request_max_body_size=SYNC_MAX_BODY,
    )
    async def sync(
        self,
        request: Request[Any, Any, Any],
        door_user: Staff,
        settings: Settings,
        db_session: AsyncSession,
        event_id: UUID,
        data: SyncBody,
    ) -> dict[str, Any]:
        actor = _actor(door_user, data.device)
        async with session_driver(db_session) as conn:
            await _known_event(conn, event_id, door_user)
            ops = [_queued_op(queued) for queued in data.ops]
            signer = ticket_signer(settings.secret_key)
            outcomes = await door_ops.apply_ops(conn, signer, event_id, ops, actor)
        request.app.state["passback"].add(platform_checkins(outcomes))
        counts = await door_roster.counts(db_session, event_id)
        return {
            "results": [outcome_json(outcome) for outcome in outcomes],
            "counts": {"checked_in": counts.checked_in, "expected": counts.expected},
        }


DOOR_CONTROLLERS = [DoorPagesController, DoorServiceWorkerController, DoorApiController]
