"""The e-mails attendees get: their ticket (QR inline, .ics attached) and a "my tickets" link.

Bodies come from templates under templates/public/email/ (HTML with inline styles, as mail
apps ignore stylesheets, plus a plain-text twin).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from community.config import Settings
from community.models import Member
from community.services.mail.outbox import Attachment, OutgoingMail
from community.templating import register_template_helpers
from community.views.calendar import google_calendar_url, ics_for_event
from community.views.event_pages import build_view
from community.views.ticket_pages import TicketView, qr_png, short_code

TEMPLATES = Path(__file__).resolve().parent.parent.parent / "templates"
QR_CID = "ticket-qr@community"


@cache
def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    register_template_helpers(env)
    return env


def render_mail(template: str, **context: object) -> str:
    """A mail body from templates/ (the payment e-mails use it too)."""
    return _render(template, **context)


def _render(template: str, **context: object) -> str:
    return _env().get_template(template).render(**context)


SUBJECTS = {
    "confirmed": "Your ticket for {title}",
    "waitlisted": "You're on the waitlist for {title}",
    "resend": "Your ticket for {title} (sent again)",
    "promoted": "A seat opened up: your ticket for {title}",
    "cancelled": "Your registration for {title} is cancelled",
    "event_cancelled": "Cancelled: {title} will not take place",
}


def compose_ticket_mail(settings: Settings, ticket: TicketView, reason: str) -> OutgoingMail:
    """`reason`: confirmed, waitlisted, resend, promoted, cancelled (the person's own
    registration) or event_cancelled (the organiser cancelled the event; the calendar file
    attached then says so, so calendars drop it)."""
    event, registration = ticket.event, ticket.registration
    view = build_view(event, settings.base_url)
    ticket_url = f"{settings.base_url}/tickets/{registration.ticket_token}"
    has_seat = ticket.status in ("confirmed", "checked_in") and event.status != "cancelled"
    context = {
        "ticket": ticket,
        "registration": registration,
        "event": event,
        "view": view,
        "reason": reason,
        "has_seat": has_seat,
        "ticket_url": ticket_url,
        "page_url": view.url,
        "google_url": google_calendar_url(event, page_url=view.url),
        "code": short_code(registration),
        "qr_cid": QR_CID,
    }
    attachments = []
    if has_seat:
        attachments.append(
            Attachment("ticket-qr.png", "image/png", qr_png(settings, registration), cid=QR_CID)
        )
    if reason != "cancelled":
        ics = ics_for_event(event, page_url=view.url, ticket_url=ticket_url)
        attachments.append(
            Attachment(f"{event.slug}.ics", "text/calendar; method=PUBLISH", ics.encode())
        )
    subject_reason = reason if reason in SUBJECTS else "confirmed"
    if reason == "resend" and not has_seat:
        subject_reason = "waitlisted"
    return OutgoingMail(
        to=registration.email or "",
        subject=SUBJECTS[subject_reason].format(title=event.title),
        text=_render("public/email/ticket.txt", **context),
        html=_render("public/email/ticket.html", **context),
        attachments=attachments,
    )


def compose_signin_mail(settings: Settings, member: Member, email: str, link: str) -> OutgoingMail:
    context = {"name": member.name, "link": link, "base_url": settings.base_url}
    return OutgoingMail(
        to=email,
        subject="Your sign-in link for My tickets",
        text=_render("public/email/signin.txt", **context),
        html=_render("public/email/signin.html", **context),
    )
