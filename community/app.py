"""The Litestar application: wiring only; controllers and services hold the logic."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin
from litestar import Litestar
from litestar.config.compression import CompressionConfig
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import CacheControlHeader, State
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.params import SkipValidation
from litestar.plugins.htmx import HTMXPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.stores.redis import RedisStore
from litestar.template.config import TemplateConfig
from redis.asyncio import Redis
from redis.exceptions import RedisError

from community import errors, redis_keys
from community.config import Settings, load_settings
from community.db import app_session_maker, sqlalchemy_config
from community.edge import edge
from community.load_shedding import POOL_BUSY_HANDLERS, InFlight
from community.logs import configure_logging
from community.outage_errors import OUTAGE_HANDLERS
from community.queue import make_queues
from community.redis_client import make_queue_redis, make_redis
from community.sandbox.runner import default_credentials
from community.services.events.page_versions import install_page_versions, uninstall_page_versions
from community.services.jobs import (
    PassbackGatherer,
    install_mirror,
    install_payments,
    install_promotion_mail,
    uninstall_mirror,
    uninstall_payments,
    uninstall_promotion_mail,
)
from community.services.mirror.clients import default_sandbox_credentials
from community.services.payments.gateway import StripeGateway
from community.services.seats.after_reply import AfterReply
from community.sessions import CSRF_EXCLUDE, SESSION_EXCLUDE, SignedInSessionConfig

log = logging.getLogger("community.app")
ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
STATIC = ROOT / "static"
MAX_BODY = 64 * 1024
GC_YOUNG_THRESHOLD = 10_000  # Python's default is 700 allocations

# Controllers register here; each later capability appends its own module's controllers.
from community.controllers.api import RegistrationApiController  # noqa: E402
from community.controllers.auth import AuthController  # noqa: E402
from community.controllers.door import DOOR_CONTROLLERS  # noqa: E402
from community.controllers.health import HealthController  # noqa: E402
from community.controllers.public import PublicPagesController  # noqa: E402
from community.controllers.public_checkout import CheckoutController  # noqa: E402
from community.controllers.public_my_tickets import MyTicketsController  # noqa: E402
from community.controllers.public_register import RegistrationController  # noqa: E402
from community.controllers.public_tickets import TicketPagesController  # noqa: E402

ROUTE_HANDLERS: list[Any] = [
    HealthController,
    AuthController,
    PublicPagesController,
    TicketPagesController,
    RegistrationController,
    MyTicketsController,
    RegistrationApiController,
]
ROUTE_HANDLERS += DOOR_CONTROLLERS

from community.controllers.admin import ADMIN_CONTROLLERS  # noqa: E402

ROUTE_HANDLERS += ADMIN_CONTROLLERS

from community.controllers.dependencies import DEPENDENCIES  # noqa: E402
from community.controllers.webhooks import WebhooksController  # noqa: E402

ROUTE_HANDLERS.append(WebhooksController)

from community.controllers.stripe_webhooks import StripeWebhookController  # noqa: E402

# Paid tickets (issue 12): the checkout pages and Stripe's webhook.
ROUTE_HANDLERS += [CheckoutController, StripeWebhookController]


def _template_engine(engine: JinjaTemplateEngine) -> None:
    from community.templating import register_template_helpers

    register_template_helpers(engine.engine)


def tune_garbage_collector() -> None:
    """What start-up loaded (routes, templates, models) lives as long as the process: frozen,
    the collector stops walking it on every full collection; and requests allocate many small
    objects, so young collections run less often. Under a rush the collector had taken a
    quarter of a web process's CPU."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def resolve_services(settings: Settings) -> Settings:
    """Start embedded PostgreSQL/Redis when their URLs are not set; otherwise use them as given."""
    if not settings.embedded:
        return settings
    from community.embedded import start_embedded

    resolved, _ = start_embedded(settings)
    return resolved


# Handlers take `redis: Redis`; with REDIS_URL on a cluster that is a RedisCluster (the same
# commands, not a subclass), so that name is resolved without an isinstance check.
SIGNATURE_NAMESPACE = {"Redis": SkipValidation[Redis]}
EXCEPTION_HANDLERS: dict[Any, Any] = {
    HTTPException: errors.http_exception_handler,
    RecursionError: errors.too_deep_handler,
    **OUTAGE_HANDLERS,
    # After the outages: a pool wait that ran out means busy, not down.
    **POOL_BUSY_HANDLERS,
    Exception: errors.internal_error_handler,
}


def edge_middleware(settings: Settings, in_flight: InFlight) -> list[Any]:
    """What every answer goes through, of the full app and of the API lane alike."""
    return [edge(settings, in_flight)]


def create_app(
    settings: Settings | None = None,
    *,
    extra_handlers: list[Any] | None = None,
    redis: Redis | None = None,
) -> Litestar:
    """`redis`: the process's client when something else in it (`community serve`'s workers)
    shares it; its owner closes it. Otherwise the app makes one and closes it."""
    settings = resolve_services(settings or load_settings())
    configure_logging(settings.log_level)
    if settings.platform_mode == "sandbox":
        # Stand-ins started by another process answer to their default credentials.
        default_sandbox_credentials(default_credentials())
    db_config = sqlalchemy_config(settings)
    owns_redis = redis is None
    # One client and pool per process: the app, its sessions and its job queues share it
    # (the queues have their own on QUEUE_URL when REDIS_URL is a cluster).
    redis = redis or make_redis(settings)
    queue_redis = make_queue_redis(settings, redis)
    queues = make_queues(settings, queue_redis)
    passback = PassbackGatherer(queues)
    in_flight = InFlight(settings.pools.max_in_flight)
    # One Stripe client per process (it keeps its connections); used by the checkout pages.
    stripe_gateway = StripeGateway(settings.stripe)
    after_reply = AfterReply()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        for queue in queues.values():
            try:
                await queue.connect()
            except RedisError as exc:
                # Start anyway: /healthz reports Redis as down and the queue reconnects later.
                log.warning("job queue unavailable at start", extra={"error": type(exc).__name__})
        # Seats taken on our pages reach the platforms through the mirror's push jobs.
        mirror = install_mirror(settings, redis, queues, app_session_maker(app))
        # People seated from the waitlist by anything this process does get their ticket.
        promotion_mail = install_promotion_mail(queues)
        # Seat changes made here show on the shared event pages of every process.
        page_versions = install_page_versions(redis, settings.redis_prefix)
        # A paid event's freed seats are offered to its waitlist; cancelled paid tickets are
        # refunded by their event's rule.
        payments = install_payments(queues)
        tune_garbage_collector()
        try:
            yield
        finally:
            await after_reply.drain()
            await passback.close()
            uninstall_payments(payments)
            await stripe_gateway.aclose()
            uninstall_promotion_mail(promotion_mail)
            uninstall_page_versions(page_versions)
            uninstall_mirror(mirror)
            if owns_redis or queue_redis is not redis:
                # A queue's disconnect closes its client: the one client the app shares, or
                # the queues' own.
                for queue in queues.values():
                    with contextlib.suppress(RedisError):
                        await queue.disconnect()
            if owns_redis:
                await redis.aclose()

    def provide_settings() -> Settings:
        return settings

    session_config = SignedInSessionConfig(
        key="session",
        max_age=60 * 60 * 12,
        renew_on_access=True,
        secure=settings.secure_cookies,
        samesite="lax",
        httponly=True,
        # Only signed-in people have a session (community.sessions). Health checks must answer
        # even when Redis (the session store) is down. The door API signs its calls in with a
        # door token instead (community.auth), saving Redis round trips per scan; it can still
        # read a session itself.
        exclude=SESSION_EXCLUDE,
    )

    return Litestar(
        route_handlers=[
            *ROUTE_HANDLERS,
            *(extra_handlers or []),
            create_static_files_router(
                path="/static",
                directories=[STATIC],
                name="static",
                cache_control=CacheControlHeader(max_age=3600, public=True),
                include_in_schema=False,
            ),
        ],
        plugins=[SQLAlchemyPlugin(config=db_config), HTMXPlugin()],
        dependencies={
            "settings": Provide(provide_settings, sync_to_thread=False),
            "redis": Provide(lambda: redis, sync_to_thread=False),
            "queues": Provide(lambda: queues, sync_to_thread=False),
            # The registration service, the organiser's effects, the payments.
            **DEPENDENCIES,
        },
        state=State(
            {
                "settings": settings,
                "redis": redis,
                "queues": queues,
                "db_config": db_config,
                "session_config": session_config,
                "passback": passback,
                "stripe": stripe_gateway,
                "after_reply": after_reply,
                "in_flight": in_flight,
            }
        ),
        lifespan=[lifespan],
        middleware=[*edge_middleware(settings, in_flight), session_config.middleware],
        stores={
            "sessions": RedisStore(
                redis, namespace=redis_keys.sessions_namespace(settings.redis_prefix)
            )
        },
        csrf_config=CSRFConfig(
            secret=settings.secret_key,
            cookie_secure=settings.secure_cookies,
            exclude=CSRF_EXCLUDE,
        ),
        template_config=TemplateConfig(
            directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=_template_engine
        ),
        compression_config=CompressionConfig(backend="gzip", minimum_size=1000),
        # Forms and JSON are small; a big body only costs parsing time (routes that need more,
        # the admin's event form, the door's offline sync and the webhooks, say so).
        request_max_body_size=MAX_BODY,
        openapi_config=OpenAPIConfig(
            title="Community events API",
            version="1.0.0",
            path="/api/docs",
            render_plugins=[JsonRenderPlugin()],  # no CDN-hosted viewer: the spec itself
        ),
        exception_handlers=EXCEPTION_HANDLERS,
        signature_namespace=SIGNATURE_NAMESPACE,
        # Logging is configured above (one JSON object per line, at LOG_LEVEL); Litestar's own
        # default would replace it at start-up with a plain-text handler at INFO.
        logging_config=None,
        debug=settings.debug,
    )
