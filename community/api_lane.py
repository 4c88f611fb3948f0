"""The public JSON API of registrations on a lean app of its own: the rush's path.

In a flash sale almost every request is `POST /api/events/{id}/registrations`, and almost
every answer a refusal that costs Redis one script call. Through the full app each one also
crossed the session, CSRF and compression middleware, the database plugin's send hook and
the template machinery, none of which this API uses; that cost several times the refusal
itself. Here the same controller runs in a Litestar app with only what every answer needs
(community.app.edge_middleware: security headers, client address, load shedding, request log,
outage answers) and the same exception handlers, sharing the full app's state: its Redis
client, queues, database and in-flight count. In front of it, the rush's own request (a
well-formed registration) is answered without the framework (controllers.api_rush). The full
app keeps the routes too (its OpenAPI document describes them); `community web` serves both
through `create_served_app`.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from community.app import (
    EXCEPTION_HANDLERS,
    MAX_BODY,
    SIGNATURE_NAMESPACE,
    create_app,
    edge_middleware,
)
from community.config import Settings
from community.controllers.api import RegistrationApiController
from community.controllers.api_rush import rush_route
from community.controllers.dependencies import DEPENDENCIES

LANE_PREFIXES = ("/api/events/", "/api/registrations/")


def api_lane(main: Litestar) -> ASGIApp:
    """The lane: the rush route (controllers.api_rush) in front of a Litestar app of the
    registration API's controller, both inside the edge middleware."""
    state = main.state
    settings: Settings = state["settings"]
    lane = Litestar(
        route_handlers=[RegistrationApiController],
        state=state,
        dependencies={
            "settings": Provide(lambda: settings, sync_to_thread=False),
            "redis": Provide(lambda: state["redis"], sync_to_thread=False),
            "queues": Provide(lambda: state["queues"], sync_to_thread=False),
            "registrations": DEPENDENCIES["registrations"],
        },
        exception_handlers=EXCEPTION_HANDLERS,
        request_max_body_size=MAX_BODY,
        signature_namespace=SIGNATURE_NAMESPACE,
        openapi_config=None,
        logging_config=None,
        debug=settings.debug,
    )
    served = rush_route(main, lane, MAX_BODY)
    # Applied here, once around both, as Litestar applies them (the first is the outermost).
    for middleware in reversed(edge_middleware(settings, state["in_flight"])):
        served = middleware(served)
    return served


def with_api_lane(main: Litestar) -> ASGIApp:
    """One ASGI app: the registration API's requests go down the lane, the rest (and the
    lifespan, which starts and stops what both share) to the full app."""
    lane = api_lane(main)

    async def served(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and scope["path"].startswith(LANE_PREFIXES):
            await lane(scope, receive, send)
        else:
            await main(scope, receive, send)

    return served


def create_served_app(settings: Settings | None = None, **options: Any) -> ASGIApp:
    """What `community web` serves (granian's factory)."""
    return with_api_lane(create_app(settings, **options))
