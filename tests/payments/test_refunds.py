"""Refunds by the organiser's rule, for a cancelled event, by hand, and never twice."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import select

from community.models import (
    Event,
    OutboxMessage,
    Payment,
    PaymentStatus,
    RefundStatus,
    Registration,
)
from community.sandbox.stripe_standin import StripeStandIn
from community.services.payments.checkout import Checkout, start_checkout
from community.services.payments.gateway import StripeGateway
from community.services.payments.refunds import perform_refund, refund_by_organiser
from community.services.payments.sweep import sweep
from tests.payments.conftest import MakeEvent, Rig, WebhookRelay, buy


async def row(session_maker: Any, payment_id: UUID) -> Payment:
    async with session_maker() as session:
        payment = await session.get(Payment, payment_id)
    assert payment is not None
    return payment


async def ticket_token(session_maker: Any, registration_id: UUID | None) -> str:
    async with session_maker() as session:
        reg = await session.get(Registration, registration_id)
    assert reg is not None
    return reg.ticket_token


async def test_cancelling_in_time_is_refunded_in_full_by_the_rule(
    rig: Rig,
    make_paid_event: MakeEvent,
    stripe_standin: StripeStandIn,
    relay: WebhookRelay,
    gateway: StripeGateway,
    session_maker: Any,
) -> None:
    event = await make_paid_event(starts_in=timedelta(days=10), refund_days_before=7)
    paid = await buy(rig, stripe_standin, relay, event.id, "intime@buyers.example")
    await rig.payments.registrations.cancel(
        await ticket_token(session_maker, paid.registration_id), by="attendee"
    )
    done = dict(await rig.run_jobs())
    assert done["settle_cancelled_ticket"] == "refund decided"
    assert done["refund_payment"] == "refunded 1500"
    after = await row(session_maker, paid.id)
    assert (after.status, after.refund_status, after.refunded_amount) == (
        PaymentStatus.CANCELLED,
        RefundStatus.SUCCEEDED,
        1500,
    )
    assert after.refund_reason == "ticket cancelled"
    assert [r.amount for r in await gateway.refunds_of(paid.stripe_payment_intent_id or "")] == [
        1500
    ]
    async with session_maker() as session:
        kinds = set(
            await session.scalars(
                select(OutboxMessage.kind).where(OutboxMessage.to_addr == "intime@buyers.example")
            )
        )
    assert "payment_refunded" in kinds
    # The seat is free again for the next buyer.
    assert (await rig.payments.registrations.counts(event.id)).native == 0


async def test_cancelling_too_late_or_without_a_rule_is_not_refunded(
    rig: Rig,
    make_paid_event: MakeEvent,
    stripe_standin: StripeStandIn,
    relay: WebhookRelay,
    gateway: StripeGateway,
    session_maker: Any,
) -> None:
    too_late = await make_paid_event(starts_in=timedelta(days=3), refund_days_before=7)
    no_rule = await make_paid_event(starts_in=timedelta(days=30), refund_days_before=None)
    for event, email in ((too_late, "late@buyers.example"), (no_rule, "norule@buyers.example")):
        paid = await buy(rig, stripe_standin, relay, event.id, email)
        await rig.payments.registrations.cancel(
            await ticket_token(session_maker, paid.registration_id), by="organiser"
        )
        done = dict(await rig.run_jobs())
        assert done["settle_cancelled_ticket"] == "no refund under the event's rule"
        assert "refund_payment" not in done
        after = await row(session_maker, paid.id)
        assert (after.status, after.refund_status) == (PaymentStatus.CANCELLED, "none")
        assert await gateway.refunds_of(paid.stripe_payment_intent_id or "") == []


async def test_cancelling_the_event_refunds_everyone_and_ends_open_holds(
    rig: Rig,
    make_paid_event: MakeEvent,
    stripe_standin: StripeStandIn,
    relay: WebhookRelay,
    gateway: StripeGateway,
    session_maker: Any,
) -> None:
    # No refunds by the rule; the organiser cancelling the event refunds all the same.
    event = await make_paid_event(capacity=5, refund_days_before=None)
    first = await buy(rig, stripe_standin, relay, event.id, "one@buyers.example")
    second = await buy(rig, stripe_standin, relay, event.id, "two@buyers.example")
    holding = await start_checkout(rig.payments, event.id, name="Mid", email="mid@buyers.example")
    assert isinstance(holding, Checkout)
    async with session_maker() as session, session.begin():
        ev = await session.get(Event, event.id)
        assert ev is not None
        ev.status = "cancelled"
    await rig.payments.registrations.refresh(event.id)
    await sweep(rig.payments)
    await rig.run_jobs()
    for paid in (first, second):
        after = await row(session_maker, paid.id)
        assert (after.status, after.refund_status, after.refund_reason) == (
            "cancelled",
            "succeeded",
            "event cancelled",
        )
        assert len(await gateway.refunds_of(paid.stripe_payment_intent_id or "")) == 1
    mid = await row(session_maker, holding.payment_id)
    assert (mid.status, mid.intent_status) == ("expired", "canceled")
    # Sweeping again changes nothing: nobody is refunded twice.
    await sweep(rig.payments)
    await rig.run_jobs()
    for paid in (first, second):
        assert len(await gateway.refunds_of(paid.stripe_payment_intent_id or "")) == 1


async def test_the_organisers_refund_button_refunds_and_cancels_the_ticket(
    rig: Rig,
    make_paid_event: MakeEvent,
    stripe_standin: StripeStandIn,
    relay: WebhookRelay,
    session_maker: Any,
) -> None:
    event = await make_paid_event(refund_days_before=None)
    paid = await buy(rig, stripe_standin, relay, event.id, "comp@buyers.example")
    assert await refund_by_organiser(rig.payments, event.id, paid.id) == "refund on its way"
    await rig.run_jobs()
    after = await row(session_maker, paid.id)
    assert (after.status, after.refund_status, after.refund_reason) == (
        "cancelled",
        "succeeded",
        "refunded by the organiser",
    )
    async with session_maker() as session:
        reg = await session.get(Registration, paid.registration_id)
    assert reg is not None and reg.status == "cancelled"


async def test_a_refund_is_made_once_even_when_its_job_runs_again_or_crashed(
    rig: Rig,
    make_paid_event: MakeEvent,
    stripe_standin: StripeStandIn,
    relay: WebhookRelay,
    gateway: StripeGateway,
    session_maker: Any,
) -> None:
    event = await make_paid_event(refund_days_before=None)
    paid = await buy(rig, stripe_standin, relay, event.id, "twice@buyers.example")
    intent_id = paid.stripe_payment_intent_id or ""
    # A job refunded at Stripe, then died before writing it down.
    await gateway.refund(
        intent_id, 1500, idempotency_key="crashed", metadata={"payment_id": str(paid.id)}
    )
    async with session_maker() as session, session.begin():
        payment = await session.get(Payment, paid.id)
        assert payment is not None
        payment.refund_status = RefundStatus.PENDING
        payment.refund_reason = "refunded by the organiser"
    assert await perform_refund(rig.payments, paid.id) == "refunded 1500"
    assert await perform_refund(rig.payments, paid.id) == "nothing to do: succeeded"
    assert len(await gateway.refunds_of(intent_id)) == 1
