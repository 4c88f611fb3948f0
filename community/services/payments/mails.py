"""The e-mails about money: a seat offered from the waitlist, a payment refunded.

Each is written to the outbox in the same transaction as the change it reports, composed
there (the facts are at hand), and sent by the usual delivery job exactly once.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any
from uuid import UUID

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession

from community.config import Settings
from community.models import Event, OutboxMessage, Payment
from community.services.mail import outbox as mail
from community.services.payments.money import format_amount
from community.views.event_pages import build_view

TEMPLATES = Path(__file__).resolve().parents[3] / "templates"

# Outbox kinds (one per registration and kind where a registration exists).
OFFER = "payment_offer"
REFUSED = "payment_refused"
REFUNDED = "payment_refunded"


@cache
def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _render(template: str, **context: Any) -> str:
    return _env().get_template(template).render(**context)


def _compose(
    settings: Settings,
    event: Event,
    payment: Payment,
    *,
    subject: str,
    heading: str,
    lines: list[str],
    action: tuple[str, str] | None = None,
) -> mail.OutgoingMail:
    view = build_view(event, settings.base_url)
    context = {
        "event": event,
        "view": view,
        "heading": heading,
        "lines": lines,
        "action_label": action[0] if action else "",
        "action_url": action[1] if action else "",
        "page_url": view.url,
    }
    return mail.OutgoingMail(
        to=payment.email,
        subject=subject,
        text=_render("public/email/payment.txt", **context),
        html=_render("public/email/payment.html", **context),
    )


def checkout_url(settings: Settings, payment: Payment) -> str:
    return f"{settings.base_url}/checkout/{payment.token}"


def store_offer(
    session: AsyncSession, settings: Settings, event: Event, payment: Payment, minutes: int
) -> OutboxMessage:
    price = format_amount(payment.amount, payment.currency)
    composed = _compose(
        settings,
        event,
        payment,
        subject=f"A seat opened up for {event.title}: it is yours if you pay within {minutes} "
        "minutes",
        heading="A seat opened up for you",
        lines=[
            f"You were next on the waitlist, so we are holding a seat for you for {minutes} "
            f"minutes. Pay {price} to take it; your ticket follows at once.",
            "If you don't pay in time, the seat goes to the next person waiting and your "
            "place on the waitlist ends.",
        ],
        action=("Pay and get my ticket", checkout_url(settings, payment)),
    )
    return mail.store(session, composed, registration_id=payment.registration_id, kind=OFFER)


def store_refused(
    session: AsyncSession, settings: Settings, event: Event, payment: Payment, why: str
) -> OutboxMessage:
    """Money came in but no ticket could be given: say why, and that it is coming back."""
    price = format_amount(payment.amount, payment.currency)
    composed = _compose(
        settings,
        event,
        payment,
        subject=f"Your payment for {event.title} is being refunded",
        heading="We could not give you a seat",
        lines=[
            why,
            f"Your payment of {price} is being refunded in full to the card you paid with. "
            "Depending on your bank it shows on your statement within 5 to 10 days.",
            "Nothing else to do on your side. We're sorry it didn't work out this time.",
        ],
    )
    return mail.store(session, composed, kind=REFUSED)


def store_refunded(
    session: AsyncSession,
    settings: Settings,
    event: Event,
    payment: Payment,
    registration_id: UUID | None,
) -> OutboxMessage:
    price = format_amount(payment.refunded_amount, payment.currency)
    composed = _compose(
        settings,
        event,
        payment,
        subject=f"Refund of {price} for {event.title}",
        heading=f"{price} refunded",
        lines=[
            f"We have refunded {price} for your ticket ({payment.refund_reason or 'cancelled'})"
            " to the card you paid with.",
            "Depending on your bank it shows on your statement within 5 to 10 days.",
        ],
    )
    return mail.store(session, composed, registration_id=registration_id, kind=REFUNDED)
