"""What the public JSON API checks before a registration or a cancellation is even parsed:
the body is declared JSON (so no web page can make its visitors' browsers register people
with a "simple" text/plain form post), and the client is within its limits.

The API stays public and keyless; it is limited like the event page's form, by the same
limiter and counters (services.access.visitor_limits): per client address (behind TRUSTED_PROXIES,
community.forwarded) and per address and event. A registration's counters are counted by the
seat script itself (`registration_counters`); a cancellation's here.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException, TooManyRequestsException
from litestar.handlers import BaseRouteHandler

from community.services.access import visitor_limits as limits
from community.services.access.limiter import Counter, wait_text


class UnsupportedMediaType(HTTPException):
    status_code = 415


async def json_body_only(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    # Guards an HTTP route, so the connection is a request (one with a body to declare).
    if not isinstance(connection, Request) or connection.content_type[0] != "application/json":
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


def registration_counters(request: Request[Any, Any, Any], event_id: UUID) -> tuple[Counter, ...]:
    """The client's counters a registration attempt counts on, in the same Redis call that
    takes the seat (RegistrationService.register): a refusal in a rush costs one round trip."""
    return limits.registration_counters(request.app.state["settings"], _address(request), event_id)


async def cancellation_limit(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    state = connection.app.state
    _refuse(
        await limits.hit(
            state["redis"], state["settings"], limits.CANCEL_PER_ADDRESS, _address(connection)
        )
    )
