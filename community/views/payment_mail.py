"""The e-mails about a payment, composed from it when they are delivered."""

from __future__ import annotations

from community.config import Settings
from community.models import Event, Payment
from community.services.mail.outbox import OutgoingMail
from community.services.payments.mails import OFFER, REFUNDED, REFUSED
from community.services.payments.money import format_amount
from community.views.event_pages import build_view
from community.views.ticket_mail import render_mail


def compose_payment_mail(
    settings: Settings, event: Event, payment: Payment, kind: str
) -> OutgoingMail | None:
    """The mail of this kind about `payment`; None when there is nothing to say any more."""
    view = build_view(event, settings.base_url)
    price = format_amount(payment.amount, payment.currency)
    action: tuple[str, str] | None = None
    if kind == OFFER:
        if payment.status != "holding":
            return None  # taken, or lapsed, before the mail went out
        deadline = payment.hold_expires_at.astimezone(view.start_local.tzinfo)
        subject = f"A seat opened up for {event.title}: pay by {deadline:%H:%M} to take it"
        heading = "A seat opened up for you"
        lines = [
            f"You were next on the waitlist, so we are holding a seat for you until "
            f"{deadline:%H:%M} ({event.timezone}). Pay {price} to take it; your ticket "
            "follows at once.",
            "If you don't pay in time, the seat goes to the next person waiting and your "
            "place on the waitlist ends.",
        ]
        action = ("Pay and get my ticket", f"{settings.base_url}/checkout/{payment.token}")
    elif kind == REFUSED:
        subject = f"Your payment for {event.title} is being refunded"
        heading = "We could not give you a seat"
        lines = [
            payment.last_error or "No ticket could be given for your payment.",
            f"Your payment of {price} is being refunded in full to the card you paid with. "
            "Depending on your bank it shows on your statement within 5 to 10 days.",
            "Nothing else to do on your side. We're sorry it didn't work out this time.",
        ]
    elif kind == REFUNDED:
        refunded = format_amount(payment.refunded_amount, payment.currency)
        subject = f"Refund of {refunded} for {event.title}"
        heading = f"{refunded} refunded"
        reason = payment.refund_reason or "ticket cancelled"
        lines = [
            f"We have refunded {refunded} for your ticket ({reason}) to the card you paid with.",
            "Depending on your bank it shows on your statement within 5 to 10 days.",
        ]
    else:
        return None
    context = {
        "event": event,
        "view": view,
        "heading": heading,
        "lines": lines,
        "action_label": action[0] if action else "",
        "action_url": action[1] if action else "",
        "page_url": view.url,
    }
    return OutgoingMail(
        to=payment.email,
        subject=subject,
        text=render_mail("public/email/payment.txt", **context),
        html=render_mail("public/email/payment.html", **context),
    )
