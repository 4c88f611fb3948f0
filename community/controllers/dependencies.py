"""What the full app's handlers declare by name and Litestar provides (community.app registers
them, beside `settings`, `redis` and `queues`): the registration service, the organiser's
effects and the payments.

Each is built per request from what the process shares (its Redis client, settings, queues,
database and Stripe client), so a handler names what it needs instead of assembling it.
The registration service is the app's one (`registrations_of`), which the registration
API's rush route (controllers/api_rush.py) reads without resolving dependencies per request.
"""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Litestar, Request
from litestar.di import NamedDependency, Provide
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from community.config import Settings
from community.db import app_session_maker
from community.services.events.organiser_changes import Effects
from community.services.payments.context import Payments
from community.services.seats.registrations import RegistrationService


def registrations_of(app: Litestar) -> RegistrationService:
    """The registration service (the Traffic Cop's way in) of the pages and the API: one per
    app, built on first use (it holds no per-request state); the inventory hooks it fires
    run after the reply."""
    state = app.state
    service: RegistrationService | None = state.get("registrations")
    if service is None:
        settings: Settings = state["settings"]
        service = RegistrationService.build(
            settings,
            state["redis"],
            app_session_maker(app),
            after_reply=state["after_reply"],
            # In a rush every request waits its turn on the event loop once per await on its
            # way: with hundreds asking at once, the few who got a seat waited hundreds of
            # turns for their row to be written. Past this gate, the others wait parked.
            turns=asyncio.Semaphore(settings.pools.registrations_at_once),
        )
        state["registrations"] = service
    return service


def provide_registrations(request: Request[Any, Any, Any]) -> RegistrationService:
    return registrations_of(request.app)


def provide_effects(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    redis: NamedDependency[Redis],
    settings: NamedDependency[Settings],
) -> Effects:
    """What an organiser's change reaches: this request's session, Redis and the queues."""
    return Effects(
        session=db_session,
        redis=redis,
        settings=settings,
        queues=request.app.state["queues"],
        session_maker=app_session_maker(request.app),
    )


def provide_payments(request: Request[Any, Any, Any]) -> Payments:
    """The payments rules with the process's Stripe client and queues."""
    state = request.app.state
    return Payments.build(
        state["settings"],
        state["redis"],
        app_session_maker(request.app),
        state["queues"],
        state["stripe"],
    )


DEPENDENCIES: dict[str, Provide] = {
    "registrations": Provide(provide_registrations, sync_to_thread=False),
    "effects": Provide(provide_effects, sync_to_thread=False),
    "payments": Provide(provide_payments, sync_to_thread=False),
}
