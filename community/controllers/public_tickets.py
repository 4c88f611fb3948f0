"""Ticket pages, reached by the unguessable token in the confirmation e-mail's link.

A ticket page is personal: never stored by shared caches, never indexed, and it sends no
Referer (the token is in its address).
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect
from redis.asyncio import Redis
from saq import Queue
from sqlalchemy.ext.asyncio import AsyncSession

from community.config import Settings
from community.controllers.public import calendar_download, missing_page
from community.controllers.public_register import client_address
from community.controllers.public_render import NEVER_CACHE, base_context, html_page
from community.services.access import visitor_limits as limits
from community.services.access.limiter import wait_text
from community.services.seats.native_registrations import cancel_by_ticket
from community.services.seats.refusals import (
    AlreadyCancelled,
    NotCancellable,
    RegistrationUnavailable,
    TicketNotFound,
)
from community.services.seats.registrations import RegistrationService, attendee_cancel_refusal
from community.views import event_pages as pages
from community.views import ticket_pages as tickets
from community.views.calendar import google_calendar_url, ics_for_event
from community.views.covers import cover_svg
from community.views.revenue import paid_ticket

PRIVATE_HEADERS = {"x-robots-tag": "noindex, nofollow", "referrer-policy": "no-referrer"}


def ticket_context(settings: Settings, ticket: tickets.TicketView, **extra: Any) -> dict[str, Any]:
    event, registration = ticket.event, ticket.registration
    view = pages.build_view(event, settings.base_url)
    qr = ""
    if ticket.status in ("confirmed", "checked_in"):
        qr = tickets.qr_svg(settings, registration)
    return base_context(
        view.theme,
        page_title=f"Your ticket · {event.title}",
        robots="noindex, nofollow",
        brand_name=event.group_name or view.host_name,
        ticket=ticket,
        view=view,
        qr=qr,
        code=tickets.short_code(registration),
        cover=cover_svg(event.slug, "", ""),
        google_url=google_calendar_url(event, page_url=view.url),
        nav="tickets",
        **extra,
    )


def private_page(
    request: Request[Any, Any, Any],
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
) -> Response[Any]:
    """A page about one person's ticket: never cached, never indexed, no Referer."""
    return html_page(
        request,
        template,
        context,
        status_code=status_code,
        cache_control=NEVER_CACHE,
        headers=PRIVATE_HEADERS,
    )


class TicketPagesController(Controller):
    path = "/tickets"
    include_in_schema = False

    @get("/{token:str}", name="tickets:page")
    async def ticket(
        self,
        request: Request[Any, Any, Any],
        token: str,
        db_session: AsyncSession,
        settings: Settings,
        new: bool = False,
        cancelled: bool = False,
    ) -> Response[Any]:
        ticket = await tickets.find_ticket(db_session, token)
        if ticket is None:
            return missing_page(request)
        notice = "Your registration is cancelled. Thanks for letting us know." if cancelled else ""
        paid = await paid_ticket(db_session, ticket.event, ticket.registration.id)
        context = ticket_context(settings, ticket, welcome=new, notice=notice, paid=paid)
        return private_page(request, "public/ticket.html", context)

    @get("/{token:str}/ticket.ics", name="tickets:ics")
    async def ics(
        self,
        request: Request[Any, Any, Any],
        token: str,
        db_session: AsyncSession,
        settings: Settings,
    ) -> Response[Any]:
        ticket = await tickets.find_ticket(db_session, token)
        if ticket is None:
            return missing_page(request)
        event = ticket.event
        body = ics_for_event(
            event,
            page_url=f"{settings.base_url}/events/{event.slug}",
            ticket_url=f"{settings.base_url}/tickets/{token}",
        )
        return calendar_download(event, body, NEVER_CACHE, PRIVATE_HEADERS)

    @get("/{token:str}/cancel", name="tickets:cancel_form")
    async def cancel_form(
        self,
        request: Request[Any, Any, Any],
        token: str,
        db_session: AsyncSession,
        settings: Settings,
    ) -> Response[Any]:
        ticket = await tickets.find_ticket(db_session, token)
        if ticket is None:
            return missing_page(request)
        paid = await paid_ticket(db_session, ticket.event, ticket.registration.id)
        context = ticket_context(settings, ticket, error="", paid=paid)
        return private_page(request, "public/cancel.html", context)

    @post("/{token:str}/cancel", name="tickets:cancel", status_code=303)
    async def cancel(
        self,
        request: Request[Any, Any, Any],
        token: str,
        db_session: AsyncSession,
        redis: Redis,
        settings: Settings,
        registrations: RegistrationService,
        queues: dict[str, Queue],
    ) -> Response[Any]:
        ticket = await tickets.find_ticket(db_session, token)
        if ticket is None:
            return missing_page(request)

        def refuse(status: int, message: str) -> Response[Any]:
            context = ticket_context(settings, ticket, error=message)
            return private_page(request, "public/cancel.html", context, status_code=status)

        if ticket.registration.status == "cancelled":
            return Redirect(f"/tickets/{token}?cancelled=1", status_code=303)
        if not ticket.can_cancel:
            refusal = attendee_cancel_refusal(ticket.registration, ticket.event)
            return refuse(
                NotCancellable.status, refusal or "This registration cannot be cancelled here."
            )
        wait = await limits.hit(redis, settings, limits.CANCEL_PER_ADDRESS, client_address(request))
        if wait:
            return refuse(429, f"Too many requests just now. Try again in {wait_text(wait)}.")
        try:
            # The person is mailed; whoever waited for the seat is mailed by the promotion hook.
            await cancel_by_ticket(registrations, queues, token)
        except AlreadyCancelled:
            return Redirect(f"/tickets/{token}?cancelled=1", status_code=303)
        except NotCancellable as exc:
            return refuse(exc.status, exc.message)
        except TicketNotFound:
            return missing_page(request)
        except RegistrationUnavailable as exc:
            return refuse(exc.status, exc.message)
        return Redirect(f"/tickets/{token}?cancelled=1", status_code=303)
