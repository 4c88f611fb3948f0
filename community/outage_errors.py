"""Redis or PostgreSQL out of reach: every page and API call answers 503 with Retry-After.

Down, restarting, loading its data file (Redis's BusyLoadingError), frozen or too slow (our
statement and connect timeouts, community.db): the person is told to try again in a moment,
instead of a 500. Logged once per outage and kind, not once per request.
"""

from __future__ import annotations

import html
import json
import logging
import time
from typing import Any

from litestar import Request, Response
from litestar.exceptions import ServiceUnavailableException
from litestar.types import ExceptionHandlersMap, Scope, Send
from redis import exceptions as redis_errors
from sqlalchemy import exc as sa_errors

from community import errors, load_shedding
from community.db import DATABASE_UNAVAILABLE, REFUSALS, RETRY_AFTER_S

log = logging.getLogger("community.outage")

# BusyLoadingError and MaxConnectionsError are ConnectionErrors.
REDIS_OUTAGES: tuple[type[Exception], ...] = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
)
DATABASE_OUTAGES: tuple[type[Exception], ...] = (
    *DATABASE_UNAVAILABLE,
    sa_errors.TimeoutError,  # no pooled connection came free within the connect timeout
    TimeoutError,  # the client's own deadline (a frozen server never answers)
)
# A pool wait that ran out: overload, answered as load_shedding answers it.
BUSY_POOLS = load_shedding.POOL_BUSY_ERRORS
LOG_EVERY_S = 30.0
_last_logged: dict[str, float] = {}


class ServiceOutage(ServiceUnavailableException):
    def __init__(self, what: str) -> None:
        super().__init__(
            detail=f"{what} is unavailable for a moment. Nothing was lost; please try again.",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )


def _log_once(kind: str, request: Request[Any, Any, Any], exc: BaseException) -> None:
    now = time.monotonic()
    if now - _last_logged.get(kind, -LOG_EVERY_S) >= LOG_EVERY_S:
        _last_logged[kind] = now
        log.warning(
            f"{kind} unavailable",
            extra={"path": request.scope.get("path_template") or request.url.path,
                   "error": type(exc).__name__},
        )  # fmt: skip


def is_database_outage(exc: BaseException) -> bool:
    """A lost or refused connection, or a statement stopped by a timeout; not a bug of ours."""
    if not isinstance(exc, sa_errors.DBAPIError):
        return True
    if exc.connection_invalidated:
        return True
    cause = exc.orig.__cause__ if exc.orig is not None else None
    return isinstance(exc.orig, REFUSALS) or isinstance(cause, REFUSALS)


def redis_outage_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    _log_once("redis", request, exc)
    return errors.http_exception_handler(request, ServiceOutage("The service"))


def database_outage_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if not is_database_outage(exc):
        return errors.internal_error_handler(request, exc)
    _log_once("database", request, exc)
    return errors.http_exception_handler(request, ServiceOutage("The database"))


OUTAGE_HANDLERS: ExceptionHandlersMap = {
    **dict.fromkeys(REDIS_OUTAGES, redis_outage_handler),
    **dict.fromkeys(DATABASE_OUTAGES, database_outage_handler),
}


def outage_in(exc: BaseException | None) -> BaseException | None:
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, REDIS_OUTAGES) or (
            isinstance(exc, DATABASE_OUTAGES) and is_database_outage(exc)
        ):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


async def answer_outage(
    scope: Scope, exc: BaseException, outage: BaseException, send: Send
) -> None:
    """The 503 for an outage met after the handler, on the way out (the session is saved to
    Redis as the response starts): Litestar's handlers no longer apply there, yet the server
    has not sent anything, so the client can still be told to retry instead of getting a 500
    (community.edge calls it)."""
    request: Request[Any, Any, Any] = Request(scope)
    if isinstance(outage, BUSY_POOLS):  # busy, not down (community.load_shedding)
        detail, retry_after = load_shedding.BUSY, load_shedding.RETRY_AFTER_S
    else:
        kind = "redis" if isinstance(outage, REDIS_OUTAGES) else "database"
        _log_once(kind, request, exc)
        detail, retry_after = ServiceOutage("The service").detail, RETRY_AFTER_S
    if errors.wants_json(request):
        body, content_type = json.dumps({"status_code": 503, "detail": detail}), "application/json"
    else:
        title = errors.TITLES[503]
        body = f"<!doctype html><title>{title}</title><h1>{title}</h1>"
        body += f"<p>{html.escape(detail)}</p>"
        content_type = "text/html; charset=utf-8"
    payload = body.encode()
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(payload)).encode()),
        (b"retry-after", str(retry_after).encode()),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": payload, "more_body": False})
