"""What the public JSON API checks before a registration or a cancellation is even parsed:
the body is declared JSON (so no web page can make its visitors' browsers register people
with a "simple" text/plain form post), and the client is within its limits.

The API stays public and keyless; it is limited like the event page's form, by the same
limiter and counters (services.access.visitor_limits): per client address (behind TRUSTED_PROXIES,
community.forwarded) and per address and event.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException, TooManyRequestsException
from litestar.handlers import BaseRouteHandler

from community.services.access import visitor_limits as limits
from community.services.access.limiter import wait_text


class UnsupportedMediaType(HTTPException):
    status_code = 415


async def json_body_only(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    media_type, _params = connection.content_type
    if media_type != "application/json":
        raise UnsupportedMediaType(
            detail="Send the body as JSON, with Content-Type: application/json."
        )


def _address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    return connection.client.host if connection.client else "unknown"


def _refuse(wait: int) -> None:
    if wait:
        raise TooManyRequestsException(
            detail=f"Too many requests from your address. Please try again in {wait_text(wait)}.",
            headers={"Retry-After": str(wait)},
        )


async def registration_gate(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """JSON only, then the client's limits: one guard, as Litestar copies the route handler
    for each guard it runs, on every request."""
    await json_body_only(connection, handler)
    state = connection.app.state
    event_id = connection.path_params["event_id"]
    _refuse(
        await limits.hit_registration(
            state["redis"], state["settings"], _address(connection), event_id
        )
    )


async def cancellation_limit(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    state = connection.app.state
    _refuse(
        await limits.hit(
            state["redis"], state["settings"], limits.CANCEL_PER_ADDRESS, _address(connection)
        )
    )
