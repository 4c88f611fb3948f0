"""The e-mails about money: a seat offered from the waitlist, a payment refused or refunded.

Each one's outbox row is written in the same transaction as the change it reports, naming
its payment; the delivery job composes it from the payment (views.payment_mail) and sends it
exactly once, like a ticket e-mail.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from community.models import OutboxMessage, Payment
from community.services.mail.outbox import QUEUED

# Outbox kinds.
OFFER = "payment_offer"  # a seat offered from a paid event's waitlist: pay by the deadline
REFUSED = "payment_refused"  # paid, but no ticket could be given: refunded in full
REFUNDED = "payment_refunded"  # a cancelled ticket's refund was made
KINDS = frozenset({OFFER, REFUSED, REFUNDED})


async def queue_payment_mail(session: AsyncSession, payment: Payment, kind: str) -> OutboxMessage:
    """The outbox row of one mail about `payment` (the caller's transaction commits it)."""
    if kind not in KINDS:
        raise ValueError(f"unknown payment e-mail {kind!r}")
    message = OutboxMessage(
        to_addr=payment.email,
        subject="",
        text_body="",
        html_body="",
        attachments=[],
        status=QUEUED,
        kind=kind,
        payment_id=payment.id,
        # A refusal has no registration (no ticket was made); the others name theirs.
        registration_id=None if kind == REFUSED else payment.registration_id,
    )
    session.add(message)
    await session.flush()
    return message
