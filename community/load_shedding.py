"""Overload is answered fast with 503 and Retry-After, never with a 500 or a long queue.

Two places shed load:
- a web process works on at most MAX_REQUESTS_IN_FLIGHT requests at once; beyond that it
  answers 503 at once, before any work (the health check is always answered);
- a request that waited the configured time for a pooled connection (REDIS_POOL_WAIT,
  DATABASE_POOL_WAIT) gets a 503 from the exception handlers below.

Outages (Redis or PostgreSQL down, loading or timing out) have their own handlers; these are
only about being busy.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import ServiceUnavailableException
from litestar.types import ExceptionHandlersMap, Scope, Send
from redis.exceptions import MaxConnectionsError
from sqlalchemy.exc import TimeoutError as DatabasePoolTimeout

from community.redis_client import RedisPoolBusy

log = logging.getLogger("community.load")

RETRY_AFTER_S = 1
BUSY = "We are very busy for a moment. Nothing was taken; please try again in a second."
# Always answered, so an orchestrator does not restart a process for being busy.
NEVER_SHED = ("/healthz",)


class Busy(ServiceUnavailableException):
    def __init__(self) -> None:
        super().__init__(detail=BUSY, headers={"Retry-After": str(RETRY_AFTER_S)})


def pool_busy_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A pooled connection did not become free in time: we are overloaded, not broken."""
    from community.errors import http_exception_handler

    log.warning(
        "shed: no pooled connection in time",
        extra={"path": request.scope.get("path_template") or request.url.path,
               "pool": "database" if isinstance(exc, DatabasePoolTimeout) else "redis"},
    )  # fmt: skip
    return http_exception_handler(request, Busy())


POOL_BUSY_ERRORS: tuple[type[Exception], ...] = (
    RedisPoolBusy,
    # A Redis Cluster client's per-node pools do not wait: a full one raises this.
    MaxConnectionsError,
    DatabasePoolTimeout,
)
POOL_BUSY_HANDLERS: ExceptionHandlersMap = dict.fromkeys(POOL_BUSY_ERRORS, pool_busy_handler)


class InFlight:
    """How many requests this process is working on, and the most it takes (community.edge
    counts them; Litestar builds a middleware stack per route, so the count lives here,
    shared by all of them)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0


async def shed(scope: Scope, send: Send) -> None:
    """The fast 503 with Retry-After, before any work."""
    json = scope["path"].startswith(("/api/", "/webhooks/", "/door/api/"))
    if json:
        body = b'{"status_code":503,"code":"busy","detail":"' + BUSY.encode() + b'"}'
    else:
        body = BUSY.encode()
    content_type = b"application/json" if json else b"text/plain; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(RETRY_AFTER_S).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})
