"""Paid tickets' background work: holds ending at their deadline, refunds, waitlist offers.

`PaymentQueue` is what the payments services are handed to ask for work (they never import
this module). Each job acts through a service function that is idempotent; the minute sweep
re-drives anything a lost job (Redis restarted) or a Stripe outage left undone.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from uuid import UUID

from redis.asyncio import Redis
from saq import Queue
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings
from community.services.payments.context import Payments
from community.services.payments.gateway import GatewayUnavailable, StripeGateway
from community.services.seats.hooks import (
    InventoryHooks,
    InventoryListener,
    PromotionListener,
    RegistrationHooks,
    Subscription,
    paid_seats_freed,
    registration_cancelled,
)
from community.services.seats.registrations import RegistrationService
from community.tasks.registry import cron, task

log = logging.getLogger("community.payments")

REFUND_RETRIES = 8


class PaymentQueue:
    """PaymentJobs on the SAQ queues. Asking twice for the same thing queues it once."""

    def __init__(self, queues: dict[str, Queue]) -> None:
        self.queues = queues

    async def expire_at(self, payment_id: UUID, when: datetime) -> None:
        await self.queues["urgent"].enqueue(
            "expire_checkout",
            payment_id=str(payment_id),
            key=f"pay:expire:{payment_id}:{int(when.timestamp())}",
            scheduled=int(when.timestamp()) + 1,
            timeout=60,
            retries=3,
            retry_delay=5.0,
            retry_backoff=True,
        )

    async def refund(self, payment_id: UUID) -> None:
        await self.queues["default"].enqueue(
            "refund_payment",
            payment_id=str(payment_id),
            key=f"pay:refund:{payment_id}",
            timeout=60,
            retries=REFUND_RETRIES,
            retry_delay=5.0,
            retry_backoff=600,
        )

    async def offer_seats(self, event_id: UUID) -> None:
        await self.queues["urgent"].enqueue(
            "offer_waitlist_seats",
            event_id=str(event_id),
            key=f"pay:offer:{event_id}",
            timeout=120,
            retries=3,
            retry_delay=5.0,
            retry_backoff=True,
        )

    async def ticket_mail(self, registration_id: UUID, reason: str) -> None:
        from community.tasks.email import queue_ticket_email

        await queue_ticket_email(self.queues, registration_id, reason)

    async def deliver(self, outbox_id: UUID) -> None:
        from community.tasks.email import queue_delivery

        await queue_delivery(self.queues, outbox_id)

    async def settle(self, registration_id: UUID) -> None:
        await self.queues["default"].enqueue(
            "settle_cancelled_ticket",
            registration_id=str(registration_id),
            key=f"pay:settle:{registration_id}",
            timeout=60,
            retries=3,
            retry_delay=5.0,
            retry_backoff=True,
        )


def payments_for(
    settings: Settings,
    redis: Redis,
    session_maker: async_sessionmaker[AsyncSession],
    queues: dict[str, Queue],
    gateway: StripeGateway,
    **kwargs: Any,
) -> Payments:
    return Payments(
        settings,
        RegistrationService.build(settings, redis, session_maker),
        gateway,
        PaymentQueue(queues),
        **kwargs,
    )


def _payments(ctx: dict[str, Any]) -> Payments:
    if "payments" in ctx:  # built once by whoever runs the jobs with its own wiring
        return ctx["payments"]  # type: ignore[no-any-return]
    gateway = ctx.get("stripe")
    if gateway is None:
        gateway = ctx["stripe"] = StripeGateway(ctx["settings"].stripe)
    return payments_for(ctx["settings"], ctx["redis"], ctx["session_maker"], ctx["queues"], gateway)


# --- jobs -----------------------------------------------------------------------------------


@task
async def expire_checkout(ctx: dict[str, Any], *, payment_id: str) -> str:
    from community.services.payments.checkout import end_hold

    return await end_hold(_payments(ctx), UUID(payment_id), "expired")


@task
async def refund_payment(ctx: dict[str, Any], *, payment_id: str) -> str:
    from community.services.payments.refunds import perform_refund

    try:
        return await perform_refund(_payments(ctx), UUID(payment_id))
    except GatewayUnavailable:
        job = ctx.get("job")
        if job is not None and job.retryable:
            raise
        return "Stripe out of reach; the sweep tries again"


@task
async def offer_waitlist_seats(ctx: dict[str, Any], *, event_id: str) -> str:
    from community.services.payments.offers import offer_seats

    return f"offered {await offer_seats(_payments(ctx), UUID(event_id))}"


@task
async def settle_cancelled_ticket(ctx: dict[str, Any], *, registration_id: str) -> str:
    from community.services.payments.refunds import settle_registration

    return await settle_registration(_payments(ctx), UUID(registration_id))


@cron("* * * * *", timeout=55)
async def sweep_payments(ctx: dict[str, Any]) -> dict[str, int]:
    from community.services.payments.sweep import sweep

    if not ctx["settings"].stripe.configured:
        return {}
    report = (await sweep(_payments(ctx))).as_dict()
    if any(report.values()):
        log.info("payments swept", extra=report)
    return report


# --- listening to the seats -------------------------------------------------------------------

_offers: Subscription[InventoryListener] = Subscription()
_settlements: Subscription[PromotionListener] = Subscription()


def install_payments(
    queues: dict[str, Queue],
    *,
    freed: InventoryHooks = paid_seats_freed,
    cancelled: RegistrationHooks = registration_cancelled,
) -> tuple[InventoryListener, PromotionListener]:
    """Seats freed on a paid event go to its waitlist as offers; a cancelled registration is
    checked for a paid ticket to refund. Subscribed once per process (app and worker)."""
    jobs = PaymentQueue(queues)

    async def offer(event_id: UUID, channel: str) -> None:
        await jobs.offer_seats(event_id)

    async def settle(event_id: UUID, registration_id: UUID) -> None:
        await jobs.settle(registration_id)

    return _offers.install(freed, offer), _settlements.install(cancelled, settle)


def uninstall_payments(
    listeners: tuple[InventoryListener, PromotionListener],
    *,
    freed: InventoryHooks = paid_seats_freed,
    cancelled: RegistrationHooks = registration_cancelled,
) -> None:
    _offers.uninstall(freed, listeners[0])
    _settlements.uninstall(cancelled, listeners[1])
