"""Checkout rules against real PostgreSQL, Redis and localstripe: a hold per buyer, one
PaymentIntent per hold, confirmation only by the signed webhook, expiry and late payments."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.models import (
    OutboxMessage,
    Payment,
    PaymentStatus,
    RefundStatus,
    Registration,
    RegistrationStatus,
    SoldOutMode,
)
from community.sandbox.stripe_standin import StripeStandIn, _free_port
from community.services.payments.checkout import (
    AlreadyPaid,
    Checkout,
    NotForSale,
    PaymentsUnavailable,
    end_hold,
    start_checkout,
)
from community.services.payments.confirmations import handle_webhook
from community.services.payments.gateway import StripeGateway
from community.services.payments.sweep import sweep
from community.services.seats.inventory import Counts
from community.services.seats.refusals import AlreadyRegistered, SoldOutError
from community.services.seats.results import Registered
from tests.payments.conftest import (
    MakeEvent,
    Rig,
    WebhookRelay,
    stand_in_pays,
    stripe_settings,
)


async def counts(rig: Rig, event_id: UUID) -> Counts:
    return await rig.payments.registrations.counts(event_id)


async def payment_row(session_maker: async_sessionmaker[AsyncSession], payment_id: UUID) -> Payment:
    async with session_maker() as session:
        payment = await session.get(Payment, payment_id)
    assert payment is not None
    return payment


async def checkout(rig: Rig, event_id: UUID, email: str, name: str = "Ada Lovelace") -> Checkout:
    started = await start_checkout(rig.payments, event_id, name=name, email=email)
    assert isinstance(started, Checkout)
    return started


async def pay_and_confirm(
    rig: Rig, standin: StripeStandIn, relay: WebhookRelay, started: Checkout
) -> str:
    """The person pays; Stripe's signed webhook reaches the app once."""
    answer = await stand_in_pays(standin, started.client_secret)
    assert answer.status_code == 200, answer.text
    intent_id = started.client_secret.split("_secret_")[0]
    [delivery] = await relay.wait_for(intent_id, "payment_intent.succeeded")
    return await handle_webhook(rig.payments, delivery.body, delivery.signature)


async def test_get_ticket_holds_a_seat_and_creates_one_payment_intent(
    rig: Rig, make_paid_event: MakeEvent, gateway: StripeGateway, session_maker: Any
) -> None:
    event = await make_paid_event(capacity=5, price_cents=1250, currency="EUR")
    started = await checkout(rig, event.id, "ada@buyers.example")
    assert (started.amount, started.currency, started.status) == (1250, "EUR", "holding")
    left = started.hold_expires_at - datetime.now(UTC)
    assert timedelta(minutes=9) < left <= timedelta(minutes=10)
    c = await counts(rig, event.id)
    assert (c.held, c.native, c.native_left) == (1, 1, 4)
    row = await payment_row(session_maker, started.payment_id)
    assert row.email == "ada@buyers.example" and row.seat_no == 1
    assert row.held_until > row.hold_expires_at  # the grace after the deadline
    intent = await gateway.retrieve_intent(row.stripe_payment_intent_id or "")
    assert (intent.amount, intent.currency, intent.status) == (
        1250,
        "EUR",
        "requires_payment_method",
    )
    assert intent.metadata["payment_id"] == str(row.id)
    assert event.id in rig.mirror_fired  # a held seat is taken: the platforms hear of it

    # A second tab, a retry, another spelling of the same address: the same hold and intent.
    again = await checkout(rig, event.id, " ADA@buyers.example ")
    assert again.reused and again.token == started.token
    assert again.client_secret == started.client_secret
    assert (await counts(rig, event.id)).held == 1
    async with session_maker() as session:
        assert await session.scalar(select(func.count()).select_from(Payment)
                                     .where(Payment.event_id == event.id)) == 1  # fmt: skip


async def test_the_signed_webhook_alone_turns_the_hold_into_a_ticket(
    rig: Rig,
    make_paid_event: MakeEvent,
    stripe_standin: StripeStandIn,
    relay: WebhookRelay,
    session_maker: Any,
) -> None:
    event = await make_paid_event(capacity=3)
    started = await checkout(rig, event.id, "grace@buyers.example", "Grace Hopper")
    # Paid at Stripe, webhook not arrived yet: nothing is confirmed.
    paid = await stand_in_pays(stripe_standin, started.client_secret)
    assert paid.json()["status"] == "succeeded"
    row = await payment_row(session_maker, started.payment_id)
    assert row.status == PaymentStatus.HOLDING and row.registration_id is None

    intent_id = started.client_secret.split("_secret_")[0]
    [delivery] = await relay.wait_for(intent_id, "payment_intent.succeeded")
    assert await handle_webhook(rig.payments, delivery.body, delivery.signature) == (
        "confirmed: seat 1"
    )
    row = await payment_row(session_maker, started.payment_id)
    assert row.status == PaymentStatus.PAID and row.paid_at is not None
    assert row.client_secret == ""
    async with session_maker() as session:
        reg = await session.get(Registration, row.registration_id)
        assert reg is not None
        assert (reg.status, reg.seat_no, reg.email, reg.name) == (
            "confirmed",
            1,
            "grace@buyers.example",
            "Grace Hopper",
        )
        mail = await session.scalar(
            select(OutboxMessage.kind).where(OutboxMessage.registration_id == reg.id)
        )
    assert mail == "confirmed"
    c = await counts(rig, event.id)
    assert (c.held, c.native) == (0, 1)
    jobs = dict(await rig.run_jobs())
    assert jobs["send_ticket_email"].startswith("composed")
    assert jobs["send_ticket_email"].endswith(": kept")  # no SMTP in the tests: kept

    # Stripe delivers the same event again: acted on once.
    assert await handle_webhook(rig.payments, delivery.body, delivery.signature) == "duplicate"
    # The same person cannot buy a second ticket.
    with pytest.raises(AlreadyRegistered):
        await start_checkout(rig.payments, event.id, name="Grace", email="grace@buyers.example")


async def test_a_declined_card_may_try_again_while_the_hold_lasts(
    rig: Rig,
    make_paid_event: MakeEvent,
    stripe_standin: StripeStandIn,
    relay: WebhookRelay,
    session_maker: Any,
) -> None:
    event = await make_paid_event(capacity=2)
    started = await checkout(rig, event.id, "dec@buyers.example")
    declined = await stand_in_pays(stripe_standin, started.client_secret, card="4000000000000341")
    assert declined.status_code == 402
    intent_id = started.client_secret.split("_secret_")[0]
    [failed] = await relay.wait_for(intent_id, "payment_intent.payment_failed")
    assert await handle_webhook(rig.payments, failed.body, failed.signature) == "attempt failed"
    row = await payment_row(session_maker, started.payment_id)
    assert (row.status, row.last_error) == ("holding", "Your card was declined.")
    assert (await counts(rig, event.id)).held == 1
    assert (await pay_and_confirm(rig, stripe_standin, relay, started)).startswith("confirmed")
    # The failure delivered again, late and out of order, changes nothing.
    assert await handle_webhook(rig.payments, failed.body, failed.signature) == "duplicate"
    assert (await payment_row(session_maker, started.payment_id)).status == "paid"


async def test_an_unpaid_hold_expires_its_seat_returns_and_its_intent_is_cancelled(
    rig: Rig,
    make_paid_event: MakeEvent,
    stripe_standin: StripeStandIn,
    gateway: StripeGateway,
    session_maker: Any,
) -> None:
    event = await make_paid_event(capacity=1)
    rig.payments = replace(rig.payments, hold_s=0.5)
    started = await checkout(rig, event.id, "slow@buyers.example")
    with pytest.raises(SoldOutError):
        await start_checkout(rig.payments, event.id, name="Next", email="next@buyers.example")
    assert await end_hold(rig.payments, started.payment_id, "expired") == "not yet"
    row = await payment_row(session_maker, started.payment_id)
    # The job at the deadline (here: the sweep that finds it overdue) ends the hold.
    await _past(session_maker, row.id)
    await sweep(rig.payments)
    row = await payment_row(session_maker, started.payment_id)
    assert (row.status, row.intent_status, row.client_secret) == ("expired", "canceled", "")
    intent = await gateway.retrieve_intent(row.stripe_payment_intent_id or "")
    assert intent.status == "canceled"
    assert (await counts(rig, event.id)).native_left == 1
    # The seat is someone else's to buy now; the old page can no longer pay.
    assert isinstance(await checkout(rig, event.id, "next@buyers.example"), Checkout)
    late = await stand_in_pays(stripe_standin, started.client_secret)
    assert late.status_code == 400


async def _past(session_maker: Any, payment_id: UUID) -> None:
    """Move a hold's deadline into the past (a test cannot wait ten minutes)."""
    async with session_maker() as session, session.begin():
        row = await session.get(Payment, payment_id)
        row.hold_expires_at = datetime.now(UTC) - timedelta(seconds=10)
        row.held_until = datetime.now(UTC) + timedelta(seconds=50)


async def test_paid_in_the_last_second_the_seat_waits_for_its_webhook(
    rig: Rig,
    make_paid_event: MakeEvent,
    stripe_standin: StripeStandIn,
    relay: WebhookRelay,
    session_maker: Any,
) -> None:
    event = await make_paid_event(capacity=1)
    started = await checkout(rig, event.id, "last@buyers.example")
    await stand_in_pays(stripe_standin, started.client_secret)
    await _past(session_maker, started.payment_id)
    # The deadline passes before the webhook arrives: Stripe says it is paid, so the seat is
    # kept (the hold is extended), not sold to the next person.
    outcome = await end_hold(rig.payments, started.payment_id, "expired")
    assert outcome == "paid, awaiting confirmation"
    row = await payment_row(session_maker, started.payment_id)
    assert row.status == "holding" and row.held_until > datetime.now(UTC) + timedelta(minutes=10)
    with pytest.raises(SoldOutError):
        await start_checkout(rig.payments, event.id, name="Next", email="next@buyers.example")
    intent_id = started.client_secret.split("_secret_")[0]
    [delivery] = await relay.wait_for(intent_id, "payment_intent.succeeded")
    assert await handle_webhook(rig.payments, delivery.body, delivery.signature) == (
        "confirmed: seat 1"
    )


async def test_a_late_payment_gets_a_free_seat_or_is_refunded_when_full(
    rig: Rig,
    make_paid_event: MakeEvent,
    stripe_standin: StripeStandIn,
    relay: WebhookRelay,
    gateway: StripeGateway,
    session_maker: Any,
) -> None:
    event = await make_paid_event(capacity=2)
    early = await checkout(rig, event.id, "early@buyers.example")
    late = await checkout(rig, event.id, "late@buyers.example")
    # Both holds end while Stripe is out of reach: the seats go back all the same, but the
    # intents could not be cancelled, and both people still pay in their open pages.
    dead = StripeGateway(stripe_settings(stripe_standin, api_base="http://127.0.0.1:1"))
    offline = replace(rig.payments, gateway=dead)
    for started in (early, late):
        await _past(session_maker, started.payment_id)
        assert await end_hold(offline, started.payment_id, "expired") == "expired"
    await dead.aclose()
    assert (await counts(rig, event.id)).native_left == 2
    # Someone else takes one seat and pays for it.
    other = await checkout(rig, event.id, "other@buyers.example")
    assert (await pay_and_confirm(rig, stripe_standin, relay, other)).startswith("confirmed")

    # The first late payment finds the other seat free: confirmed.
    assert (await pay_and_confirm(rig, stripe_standin, relay, early)).startswith("confirmed")
    # The second finds the event full: refused, refunded in full, told why.
    outcome = await pay_and_confirm(rig, stripe_standin, relay, late)
    assert outcome.startswith("refused")
    row = await payment_row(session_maker, late.payment_id)
    assert (row.status, row.refund_status, row.registration_id) == ("refused", "pending", None)
    done = dict(await rig.run_jobs())
    assert done["refund_payment"] == "refunded 1500"
    row = await payment_row(session_maker, late.payment_id)
    assert (row.refund_status, row.refunded_amount) == (RefundStatus.SUCCEEDED, 1500)
    [refund] = await gateway.refunds_of(row.stripe_payment_intent_id or "")
    assert refund.amount == 1500
    async with session_maker() as session:
        mail = await session.scalar(
            select(OutboxMessage).where(
                OutboxMessage.to_addr == "late@buyers.example",
                OutboxMessage.kind == "payment_refused",
            )
        )
        tickets = await session.scalar(
            select(func.count()).select_from(Registration).where(
                Registration.event_id == event.id, Registration.status == "confirmed"
            )
        )  # fmt: skip
    assert mail is not None and "event is now full" in mail.text_body
    assert "refunded in full" in mail.text_body
    assert tickets == 2


async def test_the_person_can_let_the_seat_go(
    rig: Rig, make_paid_event: MakeEvent, stripe_standin: StripeStandIn, session_maker: Any
) -> None:
    event = await make_paid_event(capacity=1)
    started = await checkout(rig, event.id, "bye@buyers.example")
    assert await end_hold(rig.payments, started.payment_id, "released") == "released"
    assert (await counts(rig, event.id)).native_left == 1
    assert (await payment_row(session_maker, started.payment_id)).intent_status == "canceled"
    # Paid meanwhile in another tab: letting go is refused, the ticket is on its way.
    again = await checkout(rig, event.id, "bye@buyers.example")
    await stand_in_pays(stripe_standin, again.client_secret)
    with pytest.raises(AlreadyPaid):
        await end_hold(rig.payments, again.payment_id, "released")


async def test_what_is_not_for_sale_is_refused_clearly(
    rig: Rig,
    make_paid_event: MakeEvent,
    stripe_standin: StripeStandIn,
    session_maker: Any,
) -> None:
    free = await make_paid_event(price_cents=0)
    with pytest.raises(NotForSale):
        await start_checkout(rig.payments, free.id, name="A", email="a@buyers.example")
    paid = await make_paid_event(capacity=1)
    unconfigured = replace(
        rig.payments, settings=replace(rig.payments.settings, stripe=stripe_settings(
            stripe_standin, secret_key="", publishable_key="", webhook_secret=""
        ))
    )  # fmt: skip
    with pytest.raises(PaymentsUnavailable) as raised:
        await start_checkout(unconfigured, paid.id, name="A", email="a@buyers.example")
    assert "STRIPE_SECRET_KEY" in raised.value.message
    # Stripe out of reach: a clear refusal, and no seat stays held.
    dead = StripeGateway(
        stripe_settings(stripe_standin, api_base=f"http://127.0.0.1:{_free_port('127.0.0.1')}")
    )
    with pytest.raises(PaymentsUnavailable) as raised:
        await start_checkout(
            replace(rig.payments, gateway=dead), paid.id, name="A", email="a@buyers.example"
        )
    await dead.aclose()
    assert "nothing was charged" in raised.value.message
    assert (await counts(rig, paid.id)).native_left == 1
    async with session_maker() as session:
        statuses = list(
            await session.scalars(select(Payment.status).where(Payment.event_id == paid.id))
        )
    assert statuses == ["failed"]


async def test_a_full_paid_event_in_waitlist_mode_queues_the_buyer(
    rig: Rig, make_paid_event: MakeEvent
) -> None:
    event = await make_paid_event(capacity=1, mode=SoldOutMode.WAITLIST)
    await checkout(rig, event.id, "first@buyers.example")
    queued = await start_checkout(rig.payments, event.id, name="Second", email="two@buyers.example")
    assert isinstance(queued, Registered)
    assert (queued.status, queued.waitlist_position) == (RegistrationStatus.WAITLISTED, 1)
    done = dict(await rig.run_jobs())
    assert "send_ticket_email" in done
