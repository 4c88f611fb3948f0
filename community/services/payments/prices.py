"""What an event charges and when a cancelled ticket is refunded: the organiser's rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from community.config import StripeSettings
from community.models import Event
from community.services.payments.money import format_amount

STRIPE_KEYS_MISSING = (
    "A paid event needs Stripe before it can be published: set STRIPE_SECRET_KEY, "
    "STRIPE_PUBLISHABLE_KEY and STRIPE_WEBHOOK_SECRET, or make the event free."
)
MAX_REFUND_DAYS = 365


def is_paid(event: Event) -> bool:
    return (event.price_cents or 0) > 0


def price_text(event: Event) -> str:
    return format_amount(event.price_cents, event.currency) if is_paid(event) else "Free"


def publish_problem(event: Event, stripe: StripeSettings) -> str | None:
    """One sentence when this event cannot go on sale as it is, else None."""
    if is_paid(event) and not stripe.configured:
        return STRIPE_KEYS_MISSING
    return None


def refund_deadline(event: Event) -> datetime | None:
    """Until when a cancelled ticket is refunded in full; None: no refunds."""
    if event.refund_days_before is None:
        return None
    return event.starts_at - timedelta(days=event.refund_days_before)


def refund_due(event: Event, cancelled_at: datetime | None = None) -> bool:
    """Whether a ticket cancelled at `cancelled_at` (now by default) is refunded in full.

    Cancelling the whole event refunds everyone, whatever the rule says.
    """
    if event.cancelled_at is not None or event.status == "cancelled":
        return True
    deadline = refund_deadline(event)
    return deadline is not None and (cancelled_at or datetime.now(UTC)) <= deadline


def refund_rule_text(event: Event) -> str:
    """The rule as the ticket buyer reads it."""
    if event.refund_days_before is None:
        return "Tickets are not refundable, unless the organisers cancel the event."
    if event.refund_days_before == 0:
        return "Full refund if you cancel before the event starts."
    days = event.refund_days_before
    return f"Full refund if you cancel at least {days} day{'s' if days != 1 else ''} before."
