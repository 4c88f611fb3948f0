"""Refunds: decided by a rule, made by a job, each payment refunded at most once.

- a paid ticket cancelled (by the person or the organiser) is refunded in full if the
  event's rule allows it at that moment (`prices.refund_due`), else not at all;
- cancelling the whole event refunds every paid ticket in full;
- a payment that got no ticket (a late payment with no seat left) is refunded in full;
- the organiser's refund button refunds in full and cancels the ticket.

Deciding writes `refund_status = pending` in the transaction that caused it; the job then asks
Stripe with an idempotency key, and first looks for a refund an earlier, crashed attempt made,
so a payment is never refunded twice.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import select

from community.models import (
    Event,
    Payment,
    PaymentStatus,
    RefundStatus,
    Registration,
    RegistrationStatus,
)
from community.services.payments import mails
from community.services.payments.context import Payments
from community.services.payments.gateway import GatewayRefused
from community.services.payments.prices import refund_due
from community.services.seats.refusals import RegistrationError

log = logging.getLogger("community.payments")

# Statuses in which Stripe holds the person's money for this payment.
MONEY_TAKEN = (PaymentStatus.PAID, PaymentStatus.CANCELLED, PaymentStatus.REFUSED)


class NotRefundable(RegistrationError):
    code = "not_refundable"


def mark_refund(payment: Payment, reason: str) -> bool:
    """Decide a full refund, in the caller's transaction. False if one was already decided."""
    if payment.refund_status in (RefundStatus.PENDING, RefundStatus.SUCCEEDED):
        return False
    if payment.paid_at is None:
        return False
    payment.refund_status = RefundStatus.PENDING
    payment.refund_reason = reason[:300]
    return True


async def perform_refund(p: Payments, payment_id: UUID) -> str:
    """Refund what is left to refund on this payment (the job). Stripe out of reach raises
    GatewayUnavailable: the job retries, and the sweep re-drives it later."""
    outbox_id: UUID | None = None
    async with p.session_maker() as session, session.begin():
        payment = await session.scalar(
            select(Payment).where(Payment.id == payment_id).with_for_update()
        )
        if payment is None:
            return "missing"
        if payment.refund_status != RefundStatus.PENDING:
            return f"nothing to do: {payment.refund_status}"
        intent_id = payment.stripe_payment_intent_id
        left = payment.amount - payment.refunded_amount
        if intent_id is None or left <= 0:
            payment.refund_status = RefundStatus.SUCCEEDED
            return "nothing left to refund"
        earlier = [
            r
            for r in await p.gateway.refunds_of(intent_id)
            if r.metadata.get("payment_id") == str(payment.id)
        ]
        if earlier:
            refund = earlier[0]
        else:
            try:
                refund = await p.gateway.refund(
                    intent_id,
                    left,
                    idempotency_key=f"refund-{payment.id}",
                    metadata={"payment_id": str(payment.id), "reason": payment.refund_reason},
                )
            except GatewayRefused as exc:
                payment.refund_status = RefundStatus.FAILED
                payment.last_error = f"Refund refused by Stripe: {exc.message}"[:500]
                log.error("refund refused", extra={"payment_id": str(payment.id)})
                return "refused by Stripe"
        if refund.status == "failed":
            payment.refund_status = RefundStatus.FAILED
            payment.last_error = "Stripe could not refund this payment."
            return "failed"
        payment.refund_status = RefundStatus.SUCCEEDED
        payment.refunded_amount = min(payment.amount, payment.refunded_amount + refund.amount)
        payment.stripe_refund_id = refund.id
        payment.refunded_at = datetime.now(UTC)
        if payment.status != PaymentStatus.REFUSED:
            # (A refused payment's e-mail already said the money is coming back.)
            message = await mails.queue_payment_mail(session, payment, mails.REFUNDED)
            outbox_id = message.id
        amount = payment.refunded_amount
    if outbox_id is not None:
        await p.jobs.deliver(outbox_id)
    log.info("refunded", extra={"payment_id": str(payment_id), "amount": amount})
    return f"refunded {amount}"


async def settle_registration(p: Payments, registration_id: UUID) -> str:
    """A registration was cancelled: if it was a paid ticket, apply the refund rule."""
    async with p.session_maker() as session, session.begin():
        payment = await session.scalar(
            select(Payment)
            .where(
                Payment.registration_id == registration_id,
                Payment.status == PaymentStatus.PAID,
            )
            .with_for_update()
        )
        if payment is None:
            return "no paid ticket"
        reg = await session.get(Registration, registration_id)
        if reg is None or reg.status != RegistrationStatus.CANCELLED:
            return "still active"
        event = await session.get(Event, payment.event_id)
        payment.status = PaymentStatus.CANCELLED
        refund = event is not None and refund_due(event, reg.cancelled_at)
        decided = refund and mark_refund(payment, "ticket cancelled")
        payment_id = payment.id
    if decided:
        await p.jobs.refund(payment_id)
        return "refund decided"
    return "refund already decided" if refund else "no refund under the event's rule"


async def settle_cancelled_event(p: Payments, event_id: UUID) -> int:
    """The event was cancelled: every paid ticket is refunded in full, open holds end."""
    from community.services.payments.checkout import close_event_holds

    decided: list[UUID] = []
    async with p.session_maker() as session, session.begin():
        event = await session.get(Event, event_id)
        if event is None or event.status != "cancelled":
            return 0
        for payment in await session.scalars(
            select(Payment)
            .where(Payment.event_id == event_id, Payment.status == PaymentStatus.PAID)
            .with_for_update()
        ):
            payment.status = PaymentStatus.CANCELLED
            if mark_refund(payment, "event cancelled"):
                decided.append(payment.id)
    await close_event_holds(p, event_id)
    for payment_id in decided:
        await p.jobs.refund(payment_id)
    return len(decided)


async def refund_by_organiser(p: Payments, event_id: UUID, payment_id: UUID) -> str:
    """The organiser's refund button: a full refund now, and the ticket is cancelled."""
    async with p.session_maker() as session, session.begin():
        payment = await session.scalar(
            select(Payment)
            .where(Payment.id == payment_id, Payment.event_id == event_id)
            .with_for_update()
        )
        if payment is None:
            raise NotRefundable("There is no such payment for this event.")
        if payment.status not in MONEY_TAKEN:
            raise NotRefundable("Only a payment that went through can be refunded.")
        if not mark_refund(payment, "refunded by the organiser"):
            raise NotRefundable("This payment is already refunded, or its refund is on its way.")
        ticket = None
        if payment.registration_id is not None:
            reg = await session.get(Registration, payment.registration_id)
            if reg is not None and reg.status != RegistrationStatus.CANCELLED:
                ticket = reg.ticket_token
        registration_id = payment.registration_id
    if ticket is not None and registration_id is not None:
        try:
            await p.registrations.cancel(ticket, by="organiser", ticket_mail=True)
        except RegistrationError as exc:
            log.warning("refunded ticket not cancelled", extra={"code": exc.code})
        else:
            await p.jobs.ticket_mail(registration_id, "cancelled")
    if registration_id is not None:
        await settle_registration(p, registration_id)
    await p.jobs.refund(payment_id)
    return "refund on its way"
