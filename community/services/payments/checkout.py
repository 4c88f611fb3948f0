"""Checkout: a seat held in the Traffic Cop while its one PaymentIntent is paid.

Order of work, as for a free registration: the Traffic Cop first (so "sold out" and "already
registered" cost Redis only), then the ledger (the payment row, which names the hold), then
Stripe (one PaymentIntent per hold, created with the row's id as idempotency key). Whatever
fails after the hold gives the seat back at once. A second tab or a retry by the same person
finds their hold and its row, and reuses both: it never takes a second seat.

A hold ends in one of three ways: Stripe's webhook confirms it (confirmations.py), the
person lets it go, or its time runs out (`end_hold`, run by a job at the deadline and by the
sweep). Ending a hold cancels its PaymentIntent first: if Stripe says it was paid meanwhile,
the seat is kept for the confirmation that is on its way instead.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
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
from community.services.payments.context import Payments
from community.services.payments.gateway import GatewayError, GatewayUnavailable
from community.services.payments.prices import STRIPE_KEYS_MISSING, is_paid
from community.services.seats.inventory import (
    Already,
    Closed,
    JoinedWaitlist,
    PlaceState,
    Seat,
    SoldOut,
)
from community.services.seats.ledger import registration_keys
from community.services.seats.refusals import (
    AlreadyRegistered,
    EventNotFound,
    RegistrationClosed,
    RegistrationError,
    RegistrationUnavailable,
    SoldOutError,
)
from community.services.seats.results import Registered, Registrant

log = logging.getLogger("community.payments")

# A paid hold waits this long for its webhook each time it is found paid at its end, at most
# WEBHOOK_PATIENCE in all: Stripe retries a webhook for days, but a seat is not kept forever.
WEBHOOK_WAIT = timedelta(minutes=15)
WEBHOOK_PATIENCE = timedelta(hours=24)
# A second tab waits this long for the first tab's PaymentIntent before giving up.
REUSE_WAIT_S = 12.0
ORPHAN_AFTER_S = 1.0


class CheckoutError(RegistrationError):
    code = "checkout_error"


class NotForSale(CheckoutError):
    code = "not_for_sale"

    def __init__(self) -> None:
        super().__init__("This event is free: register on its page, no payment needed.")


class PaymentsUnavailable(CheckoutError):
    """Stripe is not configured or cannot be reached. Nothing is held, nothing charged."""

    code = "payments_unavailable"

    def __init__(self, reason: str = "") -> None:
        super().__init__(
            "Ticket sales are not available right now, so no seat was held and nothing was "
            "charged. Please try again in a few minutes." + (f" ({reason})" if reason else "")
        )


class CheckoutBusy(CheckoutError):
    code = "checkout_busy"

    def __init__(self) -> None:
        super().__init__(
            "A seat is being held for you in another window. Finish paying there, or try "
            "again in a moment."
        )


class CheckoutNotFound(CheckoutError):
    code = "checkout_not_found"

    def __init__(self) -> None:
        super().__init__("There is no such checkout.")


class AlreadyPaid(CheckoutError):
    code = "already_paid"

    def __init__(self) -> None:
        super().__init__("Your payment went through: your ticket is on its way.")


@dataclass(frozen=True)
class Checkout:
    payment_id: UUID
    token: str
    event_id: UUID
    status: str
    amount: int
    currency: str
    hold_expires_at: datetime
    client_secret: str
    reused: bool = False


def _checkout(payment: Payment, *, reused: bool = False) -> Checkout:
    return Checkout(
        payment_id=payment.id,
        token=payment.token,
        event_id=payment.event_id,
        status=payment.status,
        amount=payment.amount,
        currency=payment.currency,
        hold_expires_at=payment.hold_expires_at,
        client_secret=payment.client_secret,
        reused=reused,
    )


def new_token() -> str:
    return secrets.token_urlsafe(24)


async def hold_keys(p: Payments, session: AsyncSession, payment: Payment) -> tuple[str, ...]:
    """The names the Traffic Cop knows this hold by: the buyer's e-mail for a purchase, the
    waiting registration's keys for a waitlist offer."""
    if payment.kind == PaymentKind.OFFER and payment.registration_id is not None:
        reg = await session.get(Registration, payment.registration_id)
        if reg is not None:
            return await registration_keys(session, p.registrations.keys, reg)
    return p.registrations.keys.for_person(payment.email)


async def give_back_hold(p: Payments, event_id: UUID, keys: tuple[str, ...], seat_no: int) -> None:
    """Release a hold on `seat_no` (only that one, only while it is a hold)."""
    inventory = p.registrations.inventory
    try:
        await p.registrations.ask(
            event_id,
            lambda: inventory.release(event_id, keys, seat_no=seat_no, states=[PlaceState.HELD]),
        )
    except RegistrationUnavailable:
        # The hold runs out by itself; the reconciler tidies anything else.
        log.warning("could not give a held seat back", extra={"event_id": str(event_id)})


# --- starting a checkout -------------------------------------------------------------------


async def start_checkout(
    p: Payments, event_id: UUID, *, name: str, email: str
) -> Checkout | Registered:
    """Hold a seat and prepare its payment; or, full in waitlist mode, queue the person.

    Returns the Checkout to pay (a fresh one, or the person's own open one), or the waitlist
    place (Registered, status waitlisted). Raises AlreadyRegistered, SoldOutError,
    RegistrationClosed, EventNotFound, InvalidRegistration, NotForSale, PaymentsUnavailable,
    CheckoutBusy or RegistrationUnavailable.
    """
    async with p.session_maker() as session:
        event = await session.get(Event, event_id)
    if event is None or event.deleted_at is not None:
        raise EventNotFound()
    if not is_paid(event):
        raise NotForSale()
    if not p.settings.stripe.configured:
        raise PaymentsUnavailable(STRIPE_KEYS_MISSING)
    who = p.registrations.person(name=name, email=email)
    assert who.email is not None
    inventory = p.registrations.inventory
    for _ in range(2):
        result = await p.registrations.ask(
            event_id,
            lambda: inventory.hold(
                event_id, who.keys, who.channel, ttl_s=p.held_seconds, or_wait=True
            ),
        )
        if isinstance(result, Already):
            if result.state != PlaceState.HELD:
                raise AlreadyRegistered(
                    result.channel, result.since, waitlisted=result.state == PlaceState.WAITLISTED
                )
            reused = await _reuse(p, event_id, who.email, result.seat_no)
            if reused is not None:
                return reused
            continue  # an orphaned hold (its request died before writing it down): let go
        if isinstance(result, SoldOut):
            raise SoldOutError()
        if isinstance(result, Closed):
            raise RegistrationClosed()
        if isinstance(result, JoinedWaitlist):
            return await _join_waitlist(p, event_id, who, result.generation)
        assert isinstance(result, Seat) and result.expires_at is not None
        return await _open(p, event, who.name, who.email, who.keys, result)
    raise CheckoutBusy()


async def _join_waitlist(
    p: Payments, event_id: UUID, who: Registrant, generation: str
) -> Registered:
    written = await p.registrations.record_waiting(event_id, who, generation)
    if written is None:
        raise RegistrationUnavailable("Too many people are buying at once; please try again.")
    await p.jobs.ticket_mail(written.registration_id, "waitlisted")
    return written


async def _reuse(p: Payments, event_id: UUID, email: str, seat_no: int) -> Checkout | None:
    """The person's open checkout for this hold (a second tab, a retry, a double click).

    Waits for a request still preparing it. None when no request wrote it down (one died
    between the hold and the row): that orphaned hold is released for the caller to retry.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    pause = 0.02
    while True:
        async with p.session_maker() as session:
            payment = await session.scalar(
                select(Payment)
                .where(
                    Payment.event_id == event_id,
                    Payment.email == email,
                    Payment.status == PaymentStatus.HOLDING,
                    Payment.seat_no == seat_no,
                )
                .order_by(Payment.created_at.desc())
                .limit(1)
            )
        if payment is not None and payment.client_secret:
            return _checkout(payment, reused=True)
        waited = loop.time() - started
        # The row follows its hold within milliseconds; its intent within Stripe's time.
        if payment is None and waited > ORPHAN_AFTER_S:
            await give_back_hold(p, event_id, p.registrations.keys.for_person(email), seat_no)
            return None
        if waited > REUSE_WAIT_S:
            raise CheckoutBusy()
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.25)


async def _open(
    p: Payments, event: Event, name: str, email: str, keys: tuple[str, ...], seat: Seat
) -> Checkout:
    """Write the hold down, then create its PaymentIntent; any failure gives the seat back."""
    now = datetime.now(UTC)
    assert seat.expires_at is not None
    payment = Payment(
        id=uuid7(),
        event_id=event.id,
        kind=PaymentKind.PURCHASE,
        status=PaymentStatus.HOLDING,
        token=new_token(),
        name=name,
        email=email,
        amount=event.price_cents,
        currency=event.currency.upper(),
        seat_no=seat.seat_no,
        hold_expires_at=now + timedelta(seconds=p.hold_seconds),
        held_until=seat.expires_at,
    )
    try:
        async with p.session_maker() as session, session.begin():
            session.add(payment)
        await _attach_intent(p, payment)
    except BaseException:
        # Shielded: a request cancelled mid-way must still hand its seat back.
        await asyncio.shield(give_back_hold(p, event.id, keys, seat.seat_no))
        raise
    await p.jobs.expire_at(payment.id, payment.hold_expires_at)
    await p.registrations.hooks.fire(event.id, Channel.NATIVE)
    return _checkout(payment)


async def _attach_intent(p: Payments, payment: Payment) -> None:
    """Create the hold's one PaymentIntent and note it; Stripe failing ends the checkout."""
    try:
        intent = await p.gateway.create_intent(
            payment.amount,
            payment.currency,
            idempotency_key=f"checkout-{payment.id}",
            metadata={"payment_id": str(payment.id), "event_id": str(payment.event_id)},
        )
    except GatewayError as exc:
        async with p.session_maker() as session, session.begin():
            await session.execute(
                update(Payment)
                .where(Payment.id == payment.id)
                .values(status=PaymentStatus.FAILED, last_error=exc.message[:500])
            )
        payment.status = PaymentStatus.FAILED
        raise PaymentsUnavailable() from None
    payment.stripe_payment_intent_id = intent.id
    payment.client_secret = intent.client_secret
    payment.intent_status = intent.status
    async with p.session_maker() as session, session.begin():
        await session.execute(
            update(Payment)
            .where(Payment.id == payment.id)
            .values(
                stripe_payment_intent_id=intent.id,
                client_secret=intent.client_secret,
                intent_status=intent.status,
            )
        )


# --- finding one ---------------------------------------------------------------------------


async def find_checkout(session: AsyncSession, token: str) -> Payment | None:
    if not token or len(token) > 64:
        return None
    return await session.scalar(select(Payment).where(Payment.token == token))


# --- ending a hold -------------------------------------------------------------------------

EndReason = Literal["expired", "released", "event_closed"]


async def end_hold(p: Payments, payment_id: UUID, reason: EndReason) -> str:
    """Close an open hold: its PaymentIntent is cancelled and its seat goes back.

    `expired` acts only once the deadline has passed; `released` is the person letting go
    (refused with AlreadyPaid if their payment went through); `event_closed` follows the
    event's cancellation. A hold found paid at Stripe is kept for its webhook instead.
    Returns what happened, in a word.
    """
    now = datetime.now(UTC)
    seat_back: tuple[UUID, tuple[str, ...], int] | None = None
    offer_next = False
    async with p.session_maker() as session, session.begin():
        payment = await session.scalar(
            select(Payment).where(Payment.id == payment_id).with_for_update()
        )
        if payment is None:
            return "missing"
        if payment.status != PaymentStatus.HOLDING:
            return payment.status
        if reason == "expired" and now < payment.hold_expires_at:
            return "not yet"
        intent_status = payment.intent_status
        if payment.stripe_payment_intent_id:
            try:
                intent = await p.gateway.cancel_intent(payment.stripe_payment_intent_id)
                intent_status = intent.status
            except GatewayUnavailable:
                # The seat goes back all the same: no seat stays held beyond its hold. The
                # intent is cancelled by a later sweep; a payment that still gets through is
                # confirmed if a seat is free, else refunded.
                intent_status = "unknown"
        if intent_status in ("succeeded", "processing", "requires_capture"):
            payment.intent_status = intent_status
            if reason == "released":
                raise AlreadyPaid()
            return await _await_webhook(p, session, payment, now)
        keys = await hold_keys(p, session, payment)
        seat_back = (payment.event_id, keys, payment.seat_no or 0)
        payment.status = PaymentStatus.RELEASED if reason == "released" else PaymentStatus.EXPIRED
        payment.intent_status = intent_status
        payment.client_secret = ""
        if reason == "event_closed":
            payment.last_error = "The event was cancelled before the payment was made."
        if payment.kind == PaymentKind.OFFER and payment.registration_id is not None:
            # An offer not taken ends the person's place on the waitlist: the seat goes to
            # the next person waiting, in turn.
            await session.execute(
                update(Registration)
                .where(
                    Registration.id == payment.registration_id,
                    Registration.status == RegistrationStatus.WAITLISTED,
                )
                .values(status=RegistrationStatus.CANCELLED, cancelled_at=now)
            )
        offer_next = reason != "event_closed"
        outcome = payment.status
    event_id, keys, seat_no = seat_back
    if seat_no:
        await give_back_hold(p, event_id, keys, seat_no)
    await p.registrations.hooks.fire(event_id, Channel.NATIVE)
    if offer_next:
        await p.jobs.offer_seats(event_id)
    return outcome


async def _await_webhook(
    p: Payments, session: AsyncSession, payment: Payment, now: datetime
) -> str:
    """Paid, but the confirmation has not come yet: keep the seat for it, within reason."""
    if now - payment.hold_expires_at > WEBHOOK_PATIENCE:
        # Its webhook never came: the seat goes back, and a webhook that still comes is
        # handled as a late payment (a free seat, or a refund).
        log.warning(
            "a paid hold never got its webhook; its seat goes back",
            extra={"payment_id": str(payment.id)},
        )
        keys = await hold_keys(p, session, payment)
        await give_back_hold(p, payment.event_id, keys, payment.seat_no or 0)
        payment.status = PaymentStatus.EXPIRED
        payment.last_error = "Paid, but Stripe's confirmation never arrived."
        return "paid, confirmation overdue"
    keys = await hold_keys(p, session, payment)
    inventory = p.registrations.inventory
    seat_no = payment.seat_no or 0
    kept = await p.registrations.ask(
        payment.event_id,
        lambda: inventory.extend_hold(
            payment.event_id, keys, seat_no=seat_no, ttl_s=WEBHOOK_WAIT.total_seconds()
        ),
    )
    if isinstance(kept, Seat) and kept.expires_at is not None:
        payment.held_until = kept.expires_at
    await p.jobs.expire_at(payment.id, now + WEBHOOK_WAIT)
    return "paid, awaiting confirmation"


async def close_event_holds(p: Payments, event_id: UUID) -> int:
    """The event was cancelled: every open hold ends and its intent is cancelled."""
    async with p.session_maker() as session:
        ids = list(
            await session.scalars(
                select(Payment.id).where(
                    Payment.event_id == event_id, Payment.status == PaymentStatus.HOLDING
                )
            )
        )
    ended = 0
    for payment_id in ids:
        if await end_hold(p, payment_id, "event_closed") in ("expired", "released"):
            ended += 1
    return ended
