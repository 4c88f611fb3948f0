"""A paid event's waitlist: a seat that comes free is offered to the next person waiting, as
a hold with a payment link by e-mail. Not paid in time, the offer passes to the next person
(checkout.end_hold cancels the lapsed person's waitlist place and asks for the next offer).

Each offer is made in one transaction that keeps the waiting person's row locked: their one
PaymentIntent is created first (a Stripe outage then holds no seat), then the Traffic Cop
turns their waitlist place into a hold, and the payment row and the e-mail are written.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy import exists, select
from uuid_utils.compat import uuid7

from community.models import (
    Channel,
    Event,
    Payment,
    PaymentKind,
    PaymentStatus,
    Registration,
    RegistrationStatus,
)
from community.services.payments import mails
from community.services.payments.checkout import give_back_hold, new_token
from community.services.payments.context import Payments
from community.services.payments.gateway import GatewayError
from community.services.payments.prices import is_paid
from community.services.seats.inventory import Counts, Full, Seat
from community.services.seats.ledger import accepting, registration_keys

log = logging.getLogger("community.payments")

OPEN_OFFER = exists().where(
    Payment.registration_id == Registration.id, Payment.status == PaymentStatus.HOLDING
)


async def offer_seats(p: Payments, event_id: UUID, *, limit: int = 100) -> int:
    """Offer free seats to the people waiting, first in line first. Returns how many."""
    async with p.session_maker() as session:
        event = await session.get(Event, event_id)
    if event is None or not is_paid(event) or not accepting(event):
        return 0
    if not p.settings.stripe.configured:
        return 0
    offered = 0
    inventory = p.registrations.inventory
    while offered < limit:
        counts = await p.registrations.ask(event_id, lambda: inventory.counts(event_id))
        assert isinstance(counts, Counts)
        if counts.offered_natively <= 0:
            break
        if not await _offer_next(p, event):
            break
        offered += 1
    return offered


async def _offer_next(p: Payments, event: Event) -> bool:
    inventory = p.registrations.inventory
    now = datetime.now(UTC)
    after: list[UUID] = []
    async with p.session_maker() as session, session.begin():
        reg = await session.scalar(
            select(Registration)
            .where(
                Registration.event_id == event.id,
                Registration.status == RegistrationStatus.WAITLISTED,
                Registration.channel == Channel.NATIVE,
                ~OPEN_OFFER,
            )
            .order_by(Registration.waitlisted_at, Registration.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if reg is None or not reg.email:
            return False
        keys = await registration_keys(session, p.registrations.keys, reg)
        payment_id = uuid7()
        try:
            intent = await p.gateway.create_intent(
                event.price_cents,
                event.currency,
                idempotency_key=f"offer-{payment_id}",
                metadata={"payment_id": str(payment_id), "event_id": str(event.id)},
            )
        except GatewayError:
            return False  # nothing held; the sweep offers again once Stripe is back
        offered = await p.registrations.ask(
            event.id, lambda: inventory.offer(event.id, keys, ttl_s=p.held_seconds)
        )
        if not isinstance(offered, Seat) or offered.expires_at is None:
            await _cancel_quietly(p, intent.id)
            if not isinstance(offered, Full):
                # Redis did not know this person as waiting: it was stale; rebuild it.
                await p.registrations.refresh(event.id)
            return False
        try:
            payment = Payment(
                id=payment_id,
                event_id=event.id,
                registration_id=reg.id,
                kind=PaymentKind.OFFER,
                status=PaymentStatus.HOLDING,
                token=new_token(),
                name=reg.name,
                email=reg.email,
                amount=event.price_cents,
                currency=event.currency.upper(),
                seat_no=offered.seat_no,
                hold_expires_at=now + timedelta(seconds=p.hold_seconds),
                held_until=offered.expires_at,
                stripe_payment_intent_id=intent.id,
                client_secret=intent.client_secret,
                intent_status=intent.status,
            )
            session.add(payment)
            await session.flush()
            message = await mails.queue_payment_mail(session, payment, mails.OFFER)
            after = [payment.id, message.id]
        except BaseException:
            await give_back_hold(p, event.id, keys, offered.seat_no)
            await _cancel_quietly(p, intent.id)
            raise
        deadline = payment.hold_expires_at
    payment_id, outbox_id = after
    await p.jobs.deliver(outbox_id)
    await p.jobs.expire_at(payment_id, deadline)
    await p.registrations.hooks.fire(event.id, Channel.NATIVE)
    log.info("seat offered from the waitlist", extra={"payment_id": str(payment_id)})
    return True


async def _cancel_quietly(p: Payments, intent_id: str) -> None:
    # An intent nobody can pay (no page shows its secret) is harmless if this fails.
    with contextlib.suppress(GatewayError):
        await p.gateway.cancel_intent(intent_id)
