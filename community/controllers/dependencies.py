"""What the full app's handlers declare by name and Litestar provides (community.app registers
them, beside `settings`, `redis` and `queues`): the registration service, the organiser's
effects and the payments.

Each is built per request from what the process shares (its Redis client, settings, queues,
database and Stripe client), so a handler names what it needs instead of assembling it.
The registration API (controllers/api.py) reads the app's state instead, on purpose: its
lean lane avoids resolving dependencies per request.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import NamedDependency, Provide
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from community.config import Settings
from community.db import app_session_maker
from community.services.events.organiser_changes import Effects
from community.services.payments.context import Payments
from community.services.seats.registrations import RegistrationService


def provide_registrations(
    request: Request[Any, Any, Any],
    settings: NamedDependency[Settings],
    redis: NamedDependency[Redis],
) -> RegistrationService:
    """The registration service (the Traffic Cop's way in) as the public pages use it: the
    inventory hooks it fires run after the reply."""
    return RegistrationService.build(
        settings,
        redis,
        app_session_maker(request.app),
        after_reply=request.app.state["after_reply"],
    )


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
