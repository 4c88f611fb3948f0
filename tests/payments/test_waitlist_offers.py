"""A paid event's waitlist: a freed seat is offered as a hold with a payment link, in turn."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from community.models import OutboxMessage, Payment, Registration, SoldOutMode
from community.sandbox.stripe_standin import StripeStandIn
from community.services.payments.checkout import end_hold, start_checkout
from community.services.seats.results import Registered
from tests.payments.conftest import MakeEvent, Rig, WebhookRelay, buy, pay_and_confirm


async def offers(session_maker: Any, event_id: Any) -> list[Payment]:
    async with session_maker() as session:
        return list(
            await session.scalars(
                select(Payment)
                .where(Payment.event_id == event_id, Payment.kind == "offer")
                .order_by(Payment.created_at)
            )
        )


async def test_a_freed_seat_is_offered_in_turn_and_paid_for(
    rig: Rig,
    make_paid_event: MakeEvent,
    stripe_standin: StripeStandIn,
    relay: WebhookRelay,
    session_maker: Any,
) -> None:
    event = await make_paid_event(capacity=1, mode=SoldOutMode.WAITLIST, refund_days_before=7)
    holder = await buy(rig, stripe_standin, relay, event.id, "holder@buyers.example")
    waiting = []
    for name in ("first", "second"):
        queued = await start_checkout(
            rig.payments, event.id, name=name.title(), email=f"{name}@buyers.example"
        )
        assert isinstance(queued, Registered) and queued.status == "waitlisted"
        waiting.append(queued)
    await rig.run_jobs()

    # The holder cancels: nobody is seated for free; the first in line is offered the seat.
    async with session_maker() as session:
        reg = await session.get(Registration, holder.registration_id)
    await rig.payments.registrations.cancel(reg.ticket_token, by="attendee")  # type: ignore[union-attr]
    done = dict(await rig.run_jobs())
    assert done["offer_waitlist_seats"] == "offered 1"
    [offer] = await offers(session_maker, event.id)
    assert (offer.registration_id, offer.status, offer.email) == (
        waiting[0].registration_id,
        "holding",
        "first@buyers.example",
    )
    async with session_maker() as session:
        first = await session.get(Registration, waiting[0].registration_id)
        mail = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.kind == "payment_offer",
                                        OutboxMessage.registration_id == offer.registration_id)
        )  # fmt: skip
    assert first is not None and first.status == "waitlisted"  # not seated for free
    assert mail is not None and f"/checkout/{offer.token}" in mail.text_body
    counts = await rig.payments.registrations.counts(event.id)
    assert (counts.held, counts.waiting, counts.native_left) == (1, 1, 0)

    # First lets the offer lapse: their place ends, the seat goes to the second in line.
    async with session_maker() as session, session.begin():
        lapsed = await session.get(Payment, offer.id)
        lapsed.hold_expires_at = datetime.now(UTC) - timedelta(seconds=1)  # type: ignore[union-attr]
    assert await end_hold(rig.payments, offer.id, "expired") == "expired"
    await rig.run_jobs()
    lapsed_offer, second_offer = await offers(session_maker, event.id)
    assert lapsed_offer.status == "expired"
    assert second_offer.registration_id == waiting[1].registration_id
    async with session_maker() as session:
        first = await session.get(Registration, waiting[0].registration_id)
    assert first is not None and first.status == "cancelled"

    # Second pays: their own waitlist registration becomes the ticket, on the held seat.
    outcome = await pay_and_confirm(rig, stripe_standin, relay, second_offer.client_secret)
    assert outcome == f"confirmed: seat {second_offer.seat_no}"
    async with session_maker() as session:
        second = await session.get(Registration, waiting[1].registration_id)
    assert second is not None
    assert (second.status, second.seat_no) == ("confirmed", second_offer.seat_no)
    counts = await rig.payments.registrations.counts(event.id)
    assert (counts.native, counts.held, counts.waiting) == (1, 0, 0)
