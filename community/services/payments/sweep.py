"""The minute-by-minute sweep: what a lost job or a Stripe outage left undone gets done.

Every step is one the normal path also takes, and each is idempotent, so the sweep only ever
finishes work: holds past their deadline end, decided refunds are made, cancelled paid
tickets and cancelled events get their refunds, intents of ended holds are cancelled, and
seats that came free are offered to a paid event's waitlist.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from community.models import (
    Event,
    EventStatus,
    Payment,
    PaymentStatus,
    RefundStatus,
    Registration,
    RegistrationStatus,
)
from community.services.payments.checkout import end_hold
from community.services.payments.context import Payments
from community.services.payments.gateway import GatewayError
from community.services.payments.refunds import settle_cancelled_event, settle_registration

log = logging.getLogger("community.payments")

# Left to the job that was asked for first, before the sweep steps in.
OVERDUE = timedelta(seconds=5)
REFUND_REDRIVE_AFTER = timedelta(minutes=2)
# Intent statuses after which nothing can be paid any more.
SETTLED_INTENTS = ("canceled", "succeeded", "processing", "requires_capture")
BATCH = 200


@dataclass
class SweepReport:
    holds_ended: int = 0
    refunds_redriven: int = 0
    tickets_settled: int = 0
    events_settled: int = 0
    intents_cancelled: int = 0
    offers_asked: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


async def sweep(p: Payments, now: datetime | None = None) -> SweepReport:
    now = now or datetime.now(UTC)
    report = SweepReport()
    async with p.session_maker() as session:
        overdue = list(
            await session.scalars(
                select(Payment.id)
                .where(
                    Payment.status == PaymentStatus.HOLDING,
                    Payment.hold_expires_at < now - OVERDUE,
                    # A paid hold kept for its webhook is looked at again near its new end.
                    Payment.held_until < now + timedelta(minutes=2),
                )
                .limit(BATCH)
            )
        )
        refunds = list(
            await session.scalars(
                select(Payment.id)
                .where(
                    Payment.refund_status == RefundStatus.PENDING,
                    Payment.updated_at < now - REFUND_REDRIVE_AFTER,
                )
                .limit(BATCH)
            )
        )
        cancelled_tickets = list(
            await session.scalars(
                select(Payment.registration_id)
                .join(Registration, Registration.id == Payment.registration_id)
                .where(
                    Payment.status == PaymentStatus.PAID,
                    Registration.status == RegistrationStatus.CANCELLED,
                )
                .limit(BATCH)
            )
        )
        cancelled_events = list(
            await session.scalars(
                select(Event.id)
                .join(Payment, Payment.event_id == Event.id)
                .where(
                    Event.status == EventStatus.CANCELLED,
                    Payment.status.in_([PaymentStatus.PAID, PaymentStatus.HOLDING]),
                )
                .distinct()
                .limit(BATCH)
            )
        )
        open_intents = list(
            await session.execute(
                select(Payment.id, Payment.stripe_payment_intent_id)
                .where(
                    Payment.status.in_(
                        [PaymentStatus.EXPIRED, PaymentStatus.RELEASED, PaymentStatus.FAILED]
                    ),
                    Payment.stripe_payment_intent_id.is_not(None),
                    Payment.intent_status.not_in(SETTLED_INTENTS),
                )
                .limit(BATCH)
            )
        )
    for payment_id in overdue:
        if await end_hold(p, payment_id, "expired") == PaymentStatus.EXPIRED:
            report.holds_ended += 1
    for payment_id in refunds:
        await p.jobs.refund(payment_id)
        report.refunds_redriven += 1
    for registration_id in cancelled_tickets:
        if registration_id is not None:
            await settle_registration(p, registration_id)
            report.tickets_settled += 1
    for event_id in cancelled_events:
        await settle_cancelled_event(p, event_id)
        report.events_settled += 1
    for payment_id, intent_id in open_intents:
        if intent_id is not None and await _cancel_intent(p, payment_id, intent_id):
            report.intents_cancelled += 1
    report.offers_asked = await _ask_offers(p)
    return report


async def _cancel_intent(p: Payments, payment_id: object, intent_id: str) -> bool:
    """An ended hold whose intent could not be cancelled then (Stripe was out of reach)."""
    try:
        intent = await p.gateway.cancel_intent(intent_id)
    except GatewayError:
        return False
    async with p.session_maker() as session, session.begin():
        payment = await session.get(Payment, payment_id)
        if payment is not None:
            payment.intent_status = intent.status
    return intent.status == "canceled"


async def _ask_offers(p: Payments) -> int:
    """Paid events with people waiting and no offer open: maybe a seat is free for them (an
    offer job lost with Redis, or Stripe down when the seat came free)."""
    from sqlalchemy import exists

    open_offer = exists().where(
        Payment.event_id == Registration.event_id, Payment.status == PaymentStatus.HOLDING
    )
    async with p.session_maker() as session:
        event_ids = list(
            await session.scalars(
                select(Registration.event_id)
                .join(Event, Event.id == Registration.event_id)
                .where(
                    Registration.status == RegistrationStatus.WAITLISTED,
                    Event.price_cents > 0,
                    Event.status == EventStatus.PUBLISHED,
                    ~open_offer,
                )
                .distinct()
                .limit(BATCH)
            )
        )
    for event_id in event_ids:
        await p.jobs.offer_seats(event_id)
    return len(event_ids)
