"""Buying a paid ticket: "Get ticket" on the event page, the checkout page, its return page.

- `POST /events/{slug}/checkout` takes the hold (the payments service decides) and sends the
  person to their checkout page; a full event in waitlist mode puts them on the waitlist.
- `GET /checkout/{token}` is the only page that loads Stripe.js (its security policy allows
  Stripe's origins, from the settings; see security_headers). The person pays there with the
  Card Element; a visible countdown shows how long the seat stays held.
- `GET /checkout/{token}/done` is the return address: it says "confirming..." and polls
  `/checkout/{token}/status` with htmx until the webhook made the ticket. It confirms nothing.
- `POST /checkout/{token}/release` lets the seat go.

The token is the checkout's unguessable name (like a ticket's): these pages are personal, never
cached or indexed, and send no Referer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from community.config import Settings
from community.controllers.public import find_page_event, missing_page, remember_places
from community.controllers.public_register import (
    RegisterBoxOutcome,
    mask_email,
    read_box_form,
    refusal_answer,
)
from community.controllers.public_render import NEVER_CACHE, base_context, fragment
from community.controllers.public_tickets import private_page
from community.controllers.same_origin import PUBLIC_FORM, same_origin_only
from community.models import Event, Payment, PaymentStatus, Registration
from community.services.payments.checkout import (
    AlreadyPaid,
    Checkout,
    CheckoutBusy,
    NotForSale,
    PaymentsUnavailable,
    end_hold,
    find_checkout,
    start_checkout,
)
from community.services.payments.context import Payments
from community.services.payments.money import format_amount
from community.services.payments.prices import refund_rule_text
from community.services.people.members import normalise_email
from community.services.seats.refusals import (
    AlreadyRegistered,
    EventNotFound,
    InvalidRegistration,
    RegistrationClosed,
    RegistrationUnavailable,
    SoldOutError,
)
from community.views import event_pages as pages

# htmx stops polling on this status (and swaps nothing in).
STOP_POLLING = 286
POLL_SECONDS = 1


async def _checkout_context(
    session: AsyncSession, settings: Settings, payment: Payment, **extra: Any
) -> dict[str, Any] | None:
    event = await session.get(Event, payment.event_id)
    if event is None or event.deleted_at is not None:
        return None
    view = pages.build_view(event, settings.base_url)
    ticket_token = ""
    if payment.registration_id is not None and payment.status == PaymentStatus.PAID:
        reg = await session.get(Registration, payment.registration_id)
        ticket_token = reg.ticket_token if reg is not None else ""
    left = max(0, int((payment.hold_expires_at - datetime.now(UTC)).total_seconds()))
    return base_context(
        view.theme,
        page_title=f"Checkout · {event.title}",
        robots="noindex, nofollow",
        brand_name=event.group_name or view.host_name,
        view=view,
        payment=payment,
        price=format_amount(payment.amount, payment.currency),
        refund_rule=refund_rule_text(event),
        seconds_left=left,
        deadline_iso=payment.hold_expires_at.isoformat(),
        ticket_token=ticket_token,
        stripe_js_url=settings.stripe.js_url,
        publishable_key=settings.stripe.publishable_key,
        poll_seconds=POLL_SECONDS,
        **extra,
    )


class CheckoutController(Controller):
    include_in_schema = False

    @post(
        "/events/{slug:str}/checkout",
        name="public:checkout",
        status_code=200,
        opt=PUBLIC_FORM,
        guards=[same_origin_only],
    )
    async def start(
        self,
        request: HTMXRequest,
        slug: str,
        db_session: AsyncSession,
        redis: Redis,
        settings: Settings,
        payments: Payments,
    ) -> Response[Any]:
        found = await find_page_event(request, db_session, slug)
        if isinstance(found, Response):
            return found
        event, _ = found
        read = await read_box_form(
            request, db_session, redis, settings, event,
            too_many="Too many attempts from your network just now.",
        )  # fmt: skip
        if isinstance(read, Response):
            return read
        box, again = read
        name, email = box.name, box.email

        try:
            started = await start_checkout(payments, event.id, name=name, email=email)
        except (
            InvalidRegistration,
            AlreadyRegistered,
            SoldOutError,
            RegistrationClosed,
            NotForSale,
            CheckoutBusy,
            EventNotFound,
            PaymentsUnavailable,
            RegistrationUnavailable,
        ) as exc:
            return await refusal_answer(request, again, exc, email, event)

        if not isinstance(started, Checkout):
            # Full, in waitlist mode: on the waitlist, offered a seat to pay for if one opens.
            normalised = normalise_email(email)
            outcome = RegisterBoxOutcome(
                kind="waitlisted",
                email=normalised,
                email_hint=mask_email(normalised),
                ticket_token=started.ticket_token,
                position=started.waitlist_position,
            )
            answer = await again(200, outcome=outcome)
            return remember_places(answer, request, settings, [started.registration_id])
        where = f"/checkout/{started.token}"
        if request.htmx:
            return Response(b"", status_code=200, headers={"HX-Redirect": where})
        return Redirect(where, status_code=303)

    @get("/checkout/{token:str}", name="public:checkout_page")
    async def page(
        self,
        request: Request[Any, Any, Any],
        token: str,
        db_session: AsyncSession,
        settings: Settings,
    ) -> Response[Any]:
        payment = await find_checkout(db_session, token)
        if payment is None:
            return missing_page(request)
        if payment.status != PaymentStatus.HOLDING or not payment.client_secret:
            return Redirect(f"/checkout/{token}/done", status_code=303)
        context = await _checkout_context(db_session, settings, payment)
        if context is None:
            return missing_page(request)
        return private_page(request, "public/checkout.html", context)

    @get("/checkout/{token:str}/done", name="public:checkout_done")
    async def done(
        self,
        request: Request[Any, Any, Any],
        token: str,
        db_session: AsyncSession,
        settings: Settings,
    ) -> Response[Any]:
        payment = await find_checkout(db_session, token)
        if payment is None:
            return missing_page(request)
        context = await _checkout_context(db_session, settings, payment)
        if context is None:
            return missing_page(request)
        if payment.status == PaymentStatus.PAID and context["ticket_token"]:
            ticket = Redirect(f"/tickets/{context['ticket_token']}?new=1", status_code=303)
            return remember_places(ticket, request, settings, [payment.registration_id])
        return private_page(request, "public/checkout_done.html", context)

    @get("/checkout/{token:str}/status", name="public:checkout_status")
    async def status(
        self,
        request: Request[Any, Any, Any],
        token: str,
        db_session: AsyncSession,
        settings: Settings,
    ) -> Response[Any]:
        """The return page's poll: "confirming..." until the webhook made the ticket."""
        payment = await find_checkout(db_session, token)
        if payment is None:
            return Response(b"", status_code=STOP_POLLING, headers={"cache-control": NEVER_CACHE})
        context = await _checkout_context(db_session, settings, payment)
        if context is None:
            return Response(b"", status_code=STOP_POLLING, headers={"cache-control": NEVER_CACHE})
        if payment.status == PaymentStatus.PAID and context["ticket_token"]:
            where = f"/tickets/{context['ticket_token']}?new=1"
            answer = Response(
                b"", status_code=200, headers={"HX-Redirect": where, "cache-control": NEVER_CACHE}
            )
            return remember_places(answer, request, settings, [payment.registration_id])
        answer = fragment(request, "public/_checkout_status.html", context)
        if payment.status != PaymentStatus.HOLDING:
            answer.status_code = STOP_POLLING
        return answer

    @post(
        "/checkout/{token:str}/release",
        name="public:checkout_release",
        status_code=200,
        opt=PUBLIC_FORM,
        guards=[same_origin_only],
    )
    async def release(
        self,
        request: Request[Any, Any, Any],
        token: str,
        db_session: AsyncSession,
        settings: Settings,
        payments: Payments,
    ) -> Response[Any]:
        payment = await find_checkout(db_session, token)
        if payment is None:
            return missing_page(request)
        try:
            await end_hold(payments, payment.id, "released")
        except AlreadyPaid:
            return Redirect(f"/checkout/{token}/done", status_code=303)
        except RegistrationUnavailable as exc:
            context = await _checkout_context(db_session, settings, payment, notice=exc.message)
            if context is None:
                return missing_page(request)
            return private_page(request, "public/checkout.html", context, status_code=exc.status)
        return Redirect(f"/checkout/{token}/done", status_code=303)
