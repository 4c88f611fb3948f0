"""Stripe's signed webhooks: the only thing that turns a paid hold into a ticket.

Each Stripe event id is acted on once: its row in `stripe_events` is written in the same
transaction as what it caused, so a duplicate finds it and does nothing, and a failure
leaves nothing behind for Stripe's retry to trip over. Deliveries of different events about
one payment are serialised by the payment row's lock and judged by the payment's state, so
late, repeated or reordered webhooks end where one timely webhook would have.

A succeeded payment always ends with a ticket or a refund:

- its hold is still there: the hold becomes the seat;
- its hold ran out (or Redis forgot it): a free seat is taken now, as for a newcomer;
- no seat is free, the event was cancelled, the person already holds a place, or the amount
  is not the price: the payment is refused, refunded in full, and the person told why.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from community.models import (
    Channel,
    Event,
    Payment,
    PaymentKind,
    PaymentStatus,
    Registration,
    RegistrationStatus,
    StripeEvent,
)
from community.services.mail.outbox import ensure_ticket_row
from community.services.payments import mails
from community.services.payments.checkout import give_back_hold, hold_keys
from community.services.payments.context import Payments
from community.services.payments.refunds import mark_refund
from community.services.seats.inventory import Already, Mismatch, PlaceState, Seat
from community.services.seats.ledger import accepting
from community.services.seats.ledger_writes import (
    ACTIVE_MEMBER,
    SEAT_GUARDS,
    add_registration,
    constraint_of,
)
from community.services.seats.refusals import RegistrationUnavailable
from community.services.seats.results import Registrant

log = logging.getLogger("community.payments")

HANDLED = frozenset(
    {"payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled"}
)
# A late payment's seat is taken as a short hold, then confirmed at once.
LATE_HOLD_S = 30.0
ATTEMPTS = 3


@dataclass
class _After:
    """What to do once the transaction committed, and what to undo if it did not."""

    undo: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    then: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


class StaleSeat(Exception):
    """The ledger refused the seat Redis gave (Redis was stale): rebuild and try again."""


async def handle_webhook(p: Payments, payload: bytes, signature: str) -> str:
    """Verify a webhook's signature (raises SignatureInvalid) and act on its event."""
    event = p.gateway.verify(payload, signature)
    data = event.to_dict()
    obj = (data.get("data") or {}).get("object") or {}
    return await handle_event(p, str(data.get("id") or ""), str(data.get("type") or ""), obj)


async def handle_event(p: Payments, event_id: str, event_type: str, obj: dict[str, Any]) -> str:
    """Act on one verified Stripe event. Returns the outcome, in a few words.

    Raises RegistrationUnavailable when our side failed: the endpoint then answers 503 and
    Stripe delivers the event again later.
    """
    if event_type not in HANDLED or not event_id:
        return "ignored"
    intent_id = str(obj.get("id") or "")
    for attempt in range(ATTEMPTS):
        after = _After()
        try:
            async with p.session_maker() as session, session.begin():
                outcome = await _apply(p, session, after, event_id, event_type, intent_id, obj)
        except StaleSeat:
            await _undo(after)
            if attempt == ATTEMPTS - 1:
                raise RegistrationUnavailable() from None
            continue
        except BaseException:
            await asyncio.shield(_undo(after))
            raise
        for step in after.then:
            try:
                await step()
            except Exception as exc:  # the change stands; the sweep re-drives what follows
                log.warning("after a webhook", extra={"error": type(exc).__name__})
        return outcome
    raise RegistrationUnavailable()


async def _undo(after: _After) -> None:
    for step in after.undo:
        try:
            await step()
        except Exception as exc:
            log.warning("could not undo a seat", extra={"error": type(exc).__name__})


async def _apply(
    p: Payments,
    session: AsyncSession,
    after: _After,
    event_id: str,
    event_type: str,
    intent_id: str,
    obj: dict[str, Any],
) -> str:
    recorded = await session.scalar(
        insert(StripeEvent)
        .values(stripe_event_id=event_id, type=event_type, outcome="")
        .on_conflict_do_nothing(index_elements=["stripe_event_id"])
        .returning(StripeEvent.id)
    )
    if recorded is None:
        return "duplicate"
    payment = await session.scalar(
        select(Payment).where(Payment.stripe_payment_intent_id == intent_id).with_for_update()
    )
    if payment is None:
        outcome = "not ours"
    elif event_type == "payment_intent.succeeded":
        outcome = await _succeeded(p, session, after, payment, obj)
    elif event_type == "payment_intent.payment_failed":
        outcome = _failed(payment, obj)
    else:
        outcome = _canceled(payment)
    row = await session.get(StripeEvent, recorded)
    assert row is not None
    row.outcome = outcome[:120]
    row.payment_id = payment.id if payment is not None else None
    return outcome


def _failed(payment: Payment, obj: dict[str, Any]) -> str:
    """A declined card: the person may try again while the hold lasts."""
    if payment.status != PaymentStatus.HOLDING:
        return f"failed attempt ignored: {payment.status}"
    error = obj.get("last_payment_error") or {}
    # Stripe's own sentence for the person ("Your card was declined."); no card details.
    payment.last_error = str(error.get("message") or "The payment did not go through.")[:500]
    payment.intent_status = str(obj.get("status") or "requires_payment_method")
    return "attempt failed"


def _canceled(payment: Payment) -> str:
    if payment.status == PaymentStatus.HOLDING:
        # Cancelled at Stripe: our own expiry did it, or someone in Stripe's dashboard. The
        # hold's end (the job at its deadline, or the sweep) gives the seat back.
        payment.intent_status = "canceled"
    return f"canceled: {payment.status}"


async def _succeeded(
    p: Payments, session: AsyncSession, after: _After, payment: Payment, obj: dict[str, Any]
) -> str:
    if payment.status in (PaymentStatus.PAID, PaymentStatus.CANCELLED, PaymentStatus.REFUSED):
        return f"already {payment.status}"
    now = datetime.now(UTC)
    payment.paid_at = payment.paid_at or now
    payment.intent_status = "succeeded"
    payment.client_secret = ""
    received = int(obj.get("amount_received") or obj.get("amount") or 0)
    currency = str(obj.get("currency") or "").upper()
    event = await session.get(Event, payment.event_id)
    if (received, currency) != (payment.amount, payment.currency.upper()):
        log.error("a payment's amount is not its price", extra={"payment_id": str(payment.id)})
        return await _refuse(
            p, session, after, payment, event, "The amount paid was not the ticket's price."
        )
    if event is None or not accepting(event):
        return await _refuse(
            p, session, after, payment, event, "The event was cancelled before your payment "
            "arrived, so there is no ticket to give."
        )  # fmt: skip
    keys = await hold_keys(p, session, payment)
    seat = await _seat(p, after, payment, keys)
    if isinstance(seat, str):
        return await _refuse(p, session, after, payment, event, seat)
    try:
        async with session.begin_nested():
            registration_id = await _write_ticket(p, session, payment, seat)
    except IntegrityError as exc:
        name = constraint_of(exc)
        if name in SEAT_GUARDS:
            await _give_back_confirmed(p, payment.event_id, keys, seat)
            await p.registrations.refresh(payment.event_id)
            raise StaleSeat() from None
        if name == ACTIVE_MEMBER:
            await _give_back_confirmed(p, payment.event_id, keys, seat)
            after.undo.clear()
            return await _refuse(
                p, session, after, payment, event, "You already hold a place at this event."
            )
        raise
    payment.status = PaymentStatus.PAID
    payment.registration_id = registration_id
    payment.seat_no = seat
    payment.last_error = ""
    after.then.append(lambda: p.registrations.hooks.fire(payment.event_id, Channel.NATIVE))
    after.then.append(lambda: p.jobs.ticket_mail(registration_id, "confirmed"))
    log.info("paid ticket confirmed", extra={"payment_id": str(payment.id)})
    return f"confirmed: seat {seat}"


async def _seat(p: Payments, after: _After, payment: Payment, keys: tuple[str, ...]) -> int | str:
    """The seat this payment gets: its hold, else a free one now. A string says why none."""
    inventory = p.registrations.inventory
    event_id = payment.event_id
    ask = p.registrations.ask
    if payment.status == PaymentStatus.HOLDING:
        held = await ask(event_id, lambda: inventory.confirm_hold(event_id, keys))
        if isinstance(held, Seat):
            after.undo.append(lambda: _give_back_confirmed(p, event_id, keys, held.seat_no))
            return held.seat_no
        if isinstance(held, Mismatch) and held.state == PlaceState.CONFIRMED:
            # Confirmed in Redis by an earlier delivery whose ledger write failed: still ours.
            after.undo.append(lambda: _give_back_confirmed(p, event_id, keys, held.seat_no))
            return held.seat_no
        if isinstance(held, Mismatch) and held.state != PlaceState.WAITLISTED:
            return "You already hold a place at this event."
    # Late: the hold ran out (or Redis forgot it). A free seat now, on the same rules as a
    # newcomer's; a waitlisted person's own place is turned into it.
    taken = await ask(event_id, lambda: inventory.hold(event_id, keys, ttl_s=LATE_HOLD_S))
    if isinstance(taken, Already) and taken.state == PlaceState.WAITLISTED:
        taken = await ask(event_id, lambda: inventory.offer(event_id, keys, ttl_s=LATE_HOLD_S))
    if isinstance(taken, Already):
        return "You already hold a place at this event."
    if not isinstance(taken, Seat):
        return (
            "Your payment arrived after the seat we were holding for you had been released, "
            "and the event is now full."
        )
    confirmed = await ask(event_id, lambda: inventory.confirm_hold(event_id, keys))
    if not isinstance(confirmed, Seat):
        return "The seat could not be kept for you."
    after.undo.append(lambda: _give_back_confirmed(p, event_id, keys, confirmed.seat_no))
    return confirmed.seat_no


async def _give_back_confirmed(
    p: Payments, event_id: UUID, keys: tuple[str, ...], seat_no: int
) -> None:
    inventory = p.registrations.inventory
    await p.registrations.ask(
        event_id,
        lambda: inventory.release(event_id, keys, seat_no=seat_no, states=[PlaceState.CONFIRMED]),
    )


async def _write_ticket(p: Payments, session: AsyncSession, payment: Payment, seat_no: int) -> UUID:
    """The ticket: the waiting place an offer was made to becomes it, or a new one."""
    if payment.kind == PaymentKind.OFFER and payment.registration_id is not None:
        reg = await session.scalar(
            select(Registration).where(Registration.id == payment.registration_id).with_for_update()
        )
        if reg is not None and reg.status == RegistrationStatus.WAITLISTED:
            reg.status = RegistrationStatus.CONFIRMED
            reg.seat_no = seat_no
            reg.confirmed_at = datetime.now(UTC)
            await session.flush()
            if reg.email:
                await ensure_ticket_row(session, reg.id, "confirmed", reg.email)
            return reg.id
    who = Registrant(
        name=payment.name or "Guest",
        email=payment.email,
        channel=Channel.NATIVE,
        platform_member_id=None,
        keys=p.registrations.keys.for_person(payment.email),
    )
    written = await add_registration(
        session,
        payment.event_id,
        who,
        status=RegistrationStatus.CONFIRMED,
        seat_no=seat_no,
        ticket_mail=True,
    )
    return written.registration_id


async def _refuse(
    p: Payments,
    session: AsyncSession,
    after: _After,
    payment: Payment,
    event: Event | None,
    why: str,
) -> str:
    """Money came in but no ticket can be given: refund it all and tell the person why."""
    if payment.status == PaymentStatus.HOLDING and payment.seat_no:
        # Its hold (if still there) goes back too: nobody will pay for it any more.
        keys = await hold_keys(p, session, payment)
        held = (payment.event_id, keys, payment.seat_no)
        after.then.append(lambda: give_back_hold(p, *held))
    payment.status = PaymentStatus.REFUSED
    payment.last_error = why[:500]
    mark_refund(payment, "no ticket could be given")
    await session.flush()
    message = await mails.queue_payment_mail(session, payment, mails.REFUSED)
    outbox_id = message.id
    after.then.append(lambda: p.jobs.deliver(outbox_id))
    payment_id, event_id = payment.id, payment.event_id
    after.then.append(lambda: p.jobs.refund(payment_id))
    after.then.append(lambda: p.registrations.hooks.fire(event_id, Channel.NATIVE))
    log.warning("paid, no ticket given: refunding", extra={"payment_id": str(payment_id)})
    return f"refused: {why[:80]}"
