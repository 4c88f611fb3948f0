"""Paid tickets' background work: holds ending at their deadline, refunds, waitlist offers.

The payments services ask for this work through `services.jobs.PaymentQueue`. Each job acts
through a service function that is idempotent; the minute sweep re-drives anything a lost
job (Redis restarted) or a Stripe outage left undone.
"""

from __future__ import annotations

import logging
from uuid import UUID

from community.services.payments.checkout import end_hold
from community.services.payments.context import Payments
from community.services.payments.gateway import GatewayUnavailable, StripeGateway
from community.services.payments.offers import offer_seats
from community.services.payments.refunds import (
    perform_refund,
    settle_registration,
)
from community.services.payments.refunds import settle_cancelled_event as settle_event_refunds
from community.services.payments.sweep import sweep
from community.tasks.context import JobContext
from community.tasks.registry import cron, task

log = logging.getLogger("community.payments")


def _payments(ctx: JobContext) -> Payments:
    payments = ctx.get("payments")
    if payments is not None:  # built once by whoever runs the jobs with its own wiring
        return payments
    gateway = ctx.get("stripe")
    if gateway is None:
        gateway = ctx["stripe"] = StripeGateway(ctx["settings"].stripe)
    return Payments.build(
        ctx["settings"], ctx["redis"], ctx["session_maker"], ctx["queues"], gateway
    )


@task
async def expire_checkout(ctx: JobContext, *, payment_id: str) -> str:
    return await end_hold(_payments(ctx), UUID(payment_id), "expired")


@task
async def refund_payment(ctx: JobContext, *, payment_id: str) -> str:
    try:
        return await perform_refund(_payments(ctx), UUID(payment_id))
    except GatewayUnavailable:
        job = ctx.get("job")
        if job is not None and job.retryable:
            raise
        return "Stripe out of reach; the sweep tries again"


@task
async def offer_waitlist_seats(ctx: JobContext, *, event_id: str) -> str:
    return f"offered {await offer_seats(_payments(ctx), UUID(event_id))}"


@task
async def settle_cancelled_ticket(ctx: JobContext, *, registration_id: str) -> str:
    return await settle_registration(_payments(ctx), UUID(registration_id))


@task
async def settle_cancelled_event(ctx: JobContext, *, event_id: str) -> str:
    return f"refunds decided: {await settle_event_refunds(_payments(ctx), UUID(event_id))}"


@cron("* * * * *", timeout=55)
async def sweep_payments(ctx: JobContext) -> dict[str, int]:
    if not ctx["settings"].stripe.configured:
        return {}
    report = (await sweep(_payments(ctx))).as_dict()
    if any(report.values()):
        log.info("payments swept", extra=report)
    return report
