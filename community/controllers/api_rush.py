"""`POST /api/events/{id}/registrations` as a plain ASGI route: the rush's request.

When an event opens, thousands of these arrive in a few seconds and nearly all are refused
with one Redis call. Through Litestar, resolving the route, its guard, its parameters and
its response cost more CPU than that call. This route answers the common request (JSON of
the right shape, within the size limit) itself, with the controller's own body type, service
call and answers (controllers.api: `RegistrationRequest`, `take_place`, `refusal`). Anything
else, a malformed body included, goes on to the Litestar app, which answers it as it answers
every request, so an error looks the same whichever way it came.

The edge middleware (community.app.edge_middleware) wraps this route as it wraps Litestar:
security headers, the client's address, load shedding, the request log, outage answers.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from uuid import UUID

import msgspec
from litestar import Litestar
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPRequestEvent, Receive, ReceiveMessage, Scope, Send

from community.controllers.api import RegistrationRequest, refusal, take_place
from community.errors import error_code
from community.outage_errors import outage_in
from community.services.access import visitor_limits as limits
from community.services.seats.refusals import RegistrationError

log = logging.getLogger("community.errors")

ROUTE = re.compile(
    r"/api/events/([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
    r"/registrations"
)
PATH_TEMPLATE = "/api/events/{event_id:uuid}/registrations"
INTERNAL = "Something went wrong on our side. Nothing you sent was lost; please try again."
_encode = msgspec.json.Encoder().encode


@lru_cache(maxsize=1024)
def _event_id(text: str) -> UUID:
    """A rush names one event thousands of times."""
    return UUID(text)


def _declared_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == b"application/json"
    return False


def _replaying(chunks: list[bytes], whole: bool, receive: Receive) -> Receive:
    """`receive` for the Litestar app after this route has read (part of) the body."""
    pending: list[HTTPRequestEvent] = [
        {"type": "http.request", "body": b"".join(chunks), "more_body": not whole}
    ]

    async def replay() -> ReceiveMessage:
        return pending.pop() if pending else await receive()

    return replay


async def _body(receive: Receive, limit: int) -> tuple[list[bytes], bool]:
    """The body's chunks, and whether it is all there within `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return chunks, False
        chunk = message.get("body", b"")
        size += len(chunk)
        chunks.append(chunk)
        if size > limit:
            return chunks, False
        if not message.get("more_body", False):
            return chunks, True


async def _answer(
    send: Send, status: int, body: bytes, headers: dict[str, str] | None = None
) -> None:
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    raw += [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def rush_route(main: Litestar, fallback: ASGIApp, max_body: int) -> ASGIApp:
    """The route, in front of `fallback` (the Litestar app that serves every other request);
    `main`: the full app whose state (settings, Redis, queues, database) it uses."""
    settings = main.state["settings"]

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await fallback(scope, receive, send)
            return
        found = ROUTE.fullmatch(scope["path"])
        if found is None or scope["method"] != "POST" or not _declared_json(scope):
            await fallback(scope, receive, send)
            return
        chunks, whole = await _body(receive, max_body)
        data = None
        if whole:
            try:
                data = msgspec.json.decode(b"".join(chunks), type=RegistrationRequest)
            except (msgspec.DecodeError, RecursionError):
                data = None
        if data is None:
            await fallback(scope, _replaying(chunks, whole, receive), send)
            return
        scope["path_template"] = PATH_TEMPLATE  # what the request log names
        event_id = _event_id(found[1])
        client = scope.get("client")
        counters = limits.registration_counters(
            settings, client[0] if client else "unknown", event_id
        )
        try:
            result = await take_place(main, event_id, data, counters)
        except Exception as exc:
            if outage_in(exc) is not None:
                raise  # the edge's outage guard answers it: 503 with Retry-After
            # As the app's own handler for the unexpected (errors.internal_error_handler).
            log.error(
                "unhandled error",
                extra={"path": PATH_TEMPLATE, "error": type(exc).__name__},
                exc_info=exc,
            )
            body = {"status_code": 500, "code": error_code(500), "detail": INTERNAL}
            await _answer(send, 500, _encode(body))
            return
        if isinstance(result, RegistrationError):
            status, error, headers = refusal(result)
            await _answer(send, status, _encode(error), headers)
        else:
            await _answer(send, 201, _encode(result))

    return route
