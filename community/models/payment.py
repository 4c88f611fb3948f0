from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from community.models.enums import allowed_values_check


class PaymentStatus(StrEnum):
    """Where one checkout stands. Every payment Stripe took ends `paid` or `refused`."""

    HOLDING = "holding"  # a seat is held while the person pays
    PAID = "paid"  # the signed webhook confirmed it: a ticket exists
    CANCELLED = "cancelled"  # paid, then the ticket was cancelled (refunded by the rule)
    EXPIRED = "expired"  # the hold ran out unpaid; the seat went back
    RELEASED = "released"  # the person let the seat go before paying
    FAILED = "failed"  # could not start (Stripe unreachable): nothing held, nothing charged
    REFUSED = "refused"  # paid, but no ticket could be given (no seat left): refunded


OPEN_STATUSES = (PaymentStatus.HOLDING,)


class PaymentKind(StrEnum):
    PURCHASE = "purchase"  # someone pressed "Get ticket"
    OFFER = "offer"  # a seat offered to the next person on a paid event's waitlist


class RefundStatus(StrEnum):
    NONE = "none"
    PENDING = "pending"  # decided; the job asks Stripe
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # Stripe refused it; the organiser sees it in the payments list


class Payment(UUIDv7AuditBase):
    """One checkout: the seat held for it, its Stripe PaymentIntent and what became of both.

    Amounts are integers in the currency's minor unit (cents), never floats.
    """

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint(allowed_values_check("status", PaymentStatus), name="status"),
        CheckConstraint(allowed_values_check("kind", PaymentKind), name="kind"),
        CheckConstraint(allowed_values_check("refund_status", RefundStatus), name="refund_status"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= amount", name="refund_within_amount"
        ),
        # A ticket exists only for a payment Stripe confirmed.
        CheckConstraint("status <> 'paid' OR registration_id IS NOT NULL", name="paid_has_ticket"),
        Index(
            "uq_payments_intent",
            "stripe_payment_intent_id",
            unique=True,
            postgresql_where=text("stripe_payment_intent_id IS NOT NULL"),
        ),
        Index("ix_payments_event_created", "event_id", "created_at"),
        Index(
            "ix_payments_open_expiry",
            "hold_expires_at",
            postgresql_where=text("status = 'holding'"),
        ),
        Index("ix_payments_registration", "registration_id"),
        Index(
            "ix_payments_refund_pending",
            "updated_at",
            postgresql_where=text("refund_status = 'pending'"),
        ),
    )

    event_id: Mapped[UUID] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    # The ticket it paid for (a waitlist offer names the waiting place from the start).
    registration_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("registrations.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(String(16), default=PaymentKind.PURCHASE)
    status: Mapped[str] = mapped_column(String(16), default=PaymentStatus.HOLDING)
    # Unguessable: names the checkout page of an anonymous buyer, never a sequential id.
    token: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(320))
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    seat_no: Mapped[int | None] = mapped_column(Integer)
    # The person must have paid by this instant (the page counts down to it)...
    hold_expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # ...and the Traffic Cop keeps the seat until this one: a little longer, so a payment made
    # in the last second is still found paid when the hold is settled (then it is extended).
    held_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(255))
    # The PaymentIntent's status as we last learned it ("canceled", "succeeded", ...): a hold
    # that ended while Stripe was unreachable keeps an intent to cancel once it is back.
    intent_status: Mapped[str] = mapped_column(String(32), default="")
    # Lets the buyer's browser confirm this one PaymentIntent; cleared once it is settled.
    client_secret: Mapped[str] = mapped_column(String(255), default="")
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Why the last attempt failed (a declined card), or why no ticket could be given.
    last_error: Mapped[str] = mapped_column(Text, default="")
    refund_status: Mapped[str] = mapped_column(String(16), default=RefundStatus.NONE)
    refunded_amount: Mapped[int] = mapped_column(Integer, default=0)
    refund_reason: Mapped[str] = mapped_column(String(300), default="")
    stripe_refund_id: Mapped[str | None] = mapped_column(String(255))
    refunded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class StripeEvent(UUIDv7AuditBase):
    """A Stripe webhook event we acted on: each Stripe event id is processed once."""

    __tablename__ = "stripe_events"
    __table_args__ = (Index("uq_stripe_events_event", "stripe_event_id", unique=True),)

    stripe_event_id: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(80))
    payment_id: Mapped[UUID | None] = mapped_column(ForeignKey("payments.id", ondelete="SET NULL"))
    outcome: Mapped[str] = mapped_column(String(120), default="")
