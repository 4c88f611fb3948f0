"""Registering on an event page, with htmx (the answer swaps into the page) or without
JavaScript (a redirect to the ticket, or the page again with the form's errors).

Every refusal is answered in place with a 4xx, naming the field when a field is the problem.
The seat itself is taken by the registration service (the Traffic Cop), never here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Request, Response, post
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect
from redis.asyncio import Redis
from saq import Queue
from sqlalchemy.ext.asyncio import AsyncSession

from community.config import Settings
from community.controllers.public import (
    event_page_context,
    find_page_event,
    missing_page,
    remember_places,
)
from community.controllers.public_render import fragment, html_page
from community.controllers.same_origin import PUBLIC_FORM, same_origin_only
from community.models import Event, RegistrationStatus
from community.services.access import visitor_limits as limits
from community.services.access.limiter import wait_text
from community.services.jobs import queue_ticket_email
from community.services.people.members import MAX_EMAIL, MAX_NAME, clean_name, normalise_email
from community.services.seats.native_registrations import register_native
from community.services.seats.refusals import (
    FIELD_PROBLEM,
    AlreadyRegistered,
    EventNotFound,
    InvalidRegistration,
    RegistrationClosed,
    RegistrationError,
    RegistrationUnavailable,
    SoldOutError,
    TicketsOnSale,
)
from community.services.seats.registrations import RegistrationService
from community.views import event_pages as pages
from community.views.event_pages import CHANNEL_LABELS
from community.views.ticket_pages import active_registration


@dataclass(frozen=True)
class RegisterBoxOutcome:
    """What the registration box says after a submission (see public/_register.html)."""

    kind: str  # confirmed | waitlisted | already | resent | sold_out | closed
    email: str = ""
    email_hint: str = ""
    ticket_token: str = ""
    position: int | None = None
    channel_label: str = ""
    since: str = ""
    waitlisted: bool = False
    message: str = ""


def form_errors(name: str, email: str) -> dict[str, str]:
    """Every problem at once, with the same rules the registration service applies."""
    errors = {}
    if len(name) > MAX_NAME:
        errors["name"] = f"Your name can be at most {MAX_NAME} characters long."
    elif not name:
        errors["name"] = "Enter your name."
    else:
        try:
            clean_name(name)
        except ValueError as exc:
            errors["name"] = str(exc)
    if len(email) > MAX_EMAIL:
        errors["email"] = f"An e-mail address can be at most {MAX_EMAIL} characters long."
    elif not email:
        errors["email"] = "Enter your e-mail address, so we can send your ticket."
    else:
        try:
            normalise_email(email)
        except ValueError as exc:
            errors["email"] = str(exc)
    return errors


def mask_email(email: str) -> str:
    """a•••@example.com: enough to recognise one's own address, not to harvest it."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}•••@{domain}" if domain else "your address"


def client_address(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


def since_label(moment: datetime | None, timezone: str) -> str:
    if moment is None:
        return ""
    local = moment.astimezone(pages.zone(timezone))
    same_year = local.year == datetime.now(UTC).year
    return f"{local:%-d %B}" if same_year else f"{local:%-d %B %Y}"


def already_outcome(exc: AlreadyRegistered, email: str, event: Event) -> RegisterBoxOutcome:
    """What the registration box says to an address that already has a place."""
    normalised = normalise_email(email)
    return RegisterBoxOutcome(
        kind="already",
        email=normalised,
        email_hint=mask_email(normalised),
        channel_label=CHANNEL_LABELS.get(exc.channel, exc.channel.title()),
        since=since_label(exc.since, event.timezone),
        waitlisted=exc.waitlisted,
    )


# What the registration box shows for a refusal, by its code; any other is a notice above it.
BOX_OF = {
    "sold_out": "sold_out",
    "closed": "closed",
    "tickets_on_sale": "closed",
    "not_for_sale": "closed",
}


# The box again, with a status and what box_answer shows (errors, notice, outcome).
BoxAnswer = Callable[..., Awaitable[Response[Any]]]


async def refusal_answer(
    request: Request[Any, Any, Any],
    again: BoxAnswer,
    exc: RegistrationError,
    email: str,
    event: Event,
) -> Response[Any]:
    """The registration box's answer to a refusal, for the free form and the checkout alike.

    How it is shown is decided here; its status is the refusal's own (services.seats.refusals).
    """
    if isinstance(exc, EventNotFound):
        return missing_page(request)
    if isinstance(exc, InvalidRegistration):
        field = exc.field if exc.field in ("name", "email") else "email"
        return await again(FIELD_PROBLEM, errors={field: exc.message})
    if isinstance(exc, AlreadyRegistered):
        return await again(exc.status, outcome=already_outcome(exc, email, event))
    box = BOX_OF.get(exc.code)
    if box == "sold_out":
        return await again(exc.status, outcome=RegisterBoxOutcome(kind="sold_out"))
    if box is not None:
        return await again(exc.status, outcome=RegisterBoxOutcome(kind=box, message=exc.message))
    return await again(exc.status, notice=exc.message)


async def box_answer(
    request: HTMXRequest,
    session: AsyncSession,
    redis: Redis,
    settings: Settings,
    event: Event,
    *,
    status_code: int,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str = "",
    outcome: RegisterBoxOutcome | None = None,
) -> Response[Any]:
    """The registration box again (htmx) or the whole page again (no JavaScript)."""
    context = await event_page_context(
        session, redis, settings, event, form=form, errors=errors, notice=notice, outcome=outcome
    )
    if request.htmx:
        return fragment(request, "public/register_answer.html", context, status_code=status_code)
    template = f"themes/{context['theme']}/event.html"
    return html_page(request, template, context, status_code=status_code, cache_control="no-store")


def _form_value(form: Any, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class BoxForm:
    """The registration box's name and e-mail as typed (trimmed)."""

    name: str
    email: str

    @property
    def shown(self) -> dict[str, str]:
        """What the box shows again with an answer."""
        return {"name": self.name[:MAX_NAME], "email": self.email[:MAX_EMAIL]}


async def read_box_form(
    request: HTMXRequest,
    session: AsyncSession,
    redis: Redis,
    settings: Settings,
    event: Event,
    *,
    too_many: str,
) -> tuple[BoxForm, BoxAnswer] | Response[Any]:
    """The registration box's form, as the free registration and the paid checkout read it:
    the box again when the form is refused (the honeypot, a field's error, the visitor limit;
    `too_many` begins that limit's notice, in each page's words), else what was typed and how
    to answer with the box again, showing it."""
    form = await request.form()
    box = BoxForm(_form_value(form, "name").strip(), _form_value(form, "email").strip())

    async def refuse(status: int, **kwargs: Any) -> Response[Any]:
        return await box_answer(
            request, session, redis, settings, event,
            status_code=status, form=box.shown, **kwargs,
        )  # fmt: skip

    if _form_value(form, "website"):
        # The honeypot: a field people never see, that form-filling robots do.
        return await refuse(400, notice="This form looked automated, so it was not sent.")
    errors = form_errors(box.name, box.email)
    if errors:
        return await refuse(FIELD_PROBLEM, errors=errors)
    wait = await limits.hit_registration(redis, settings, client_address(request), event.id)
    if wait:
        return await refuse(429, notice=f"{too_many} Please try again in {wait_text(wait)}.")
    return box, refuse


class RegistrationController(Controller):
    path = "/events/{slug:str}"
    include_in_schema = False

    @post(
        "/register",
        name="public:register",
        status_code=200,
        opt=PUBLIC_FORM,
        guards=[same_origin_only],
    )
    async def register(
        self,
        request: HTMXRequest,
        slug: str,
        db_session: AsyncSession,
        redis: Redis,
        settings: Settings,
        registrations: RegistrationService,
        queues: dict[str, Queue],
    ) -> Response[Any]:
        found = await find_page_event(request, db_session, slug)
        if isinstance(found, Response):
            return found
        event, _ = found
        read = await read_box_form(
            request, db_session, redis, settings, event,
            too_many="Too many registrations from your network just now.",
        )  # fmt: skip
        if isinstance(read, Response):
            return read
        box, again = read
        name, email = box.name, box.email

        try:
            registered = await register_native(
                registrations, queues, event.id, name=name, email=email
            )
        except (
            InvalidRegistration,
            AlreadyRegistered,
            SoldOutError,
            TicketsOnSale,
            RegistrationClosed,
            EventNotFound,
            RegistrationUnavailable,
        ) as exc:
            return await refusal_answer(request, again, exc, email, event)

        waitlisted = registered.status == RegistrationStatus.WAITLISTED
        place = [registered.registration_id]
        if not request.htmx:
            # Post/redirect/get: a reload of the ticket page never submits the form again.
            redirect = Redirect(f"/tickets/{registered.ticket_token}?new=1", status_code=303)
            return remember_places(redirect, request, settings, place)
        normalised = normalise_email(email)
        outcome = RegisterBoxOutcome(
            kind="waitlisted" if waitlisted else "confirmed",
            email=normalised,
            email_hint=mask_email(normalised),
            ticket_token=registered.ticket_token,
            position=registered.waitlist_position,
        )
        answer = await box_answer(
            request, db_session, redis, settings, event, status_code=200, outcome=outcome
        )
        return remember_places(answer, request, settings, place)

    @post(
        "/resend", name="public:resend", status_code=200, opt=PUBLIC_FORM, guards=[same_origin_only]
    )
    async def resend(
        self,
        request: HTMXRequest,
        slug: str,
        db_session: AsyncSession,
        redis: Redis,
        settings: Settings,
        queues: dict[str, Queue],
    ) -> Response[Any]:
        """Send the ticket again, to the address on file only: the page never shows it."""
        found = await find_page_event(request, db_session, slug)
        if isinstance(found, Response):
            return found
        event, _ = found
        form = await request.form()
        raw = _form_value(form, "email").strip()
        try:
            if len(raw) > MAX_EMAIL:
                raise ValueError(f"An e-mail address can be at most {MAX_EMAIL} characters long.")
            email = normalise_email(raw)
        except ValueError as exc:
            return await box_answer(
                request, db_session, redis, settings, event,
                status_code=FIELD_PROBLEM, form={"email": raw[:MAX_EMAIL]},
                errors={"email": str(exc)},
            )  # fmt: skip
        wait = await limits.hit(redis, settings, limits.RESEND_PER_ADDRESS, client_address(request))
        if wait:
            return await box_answer(
                request, db_session, redis, settings, event, status_code=429,
                form={"email": raw},
                notice=f"Too many requests just now. Please try again in {wait_text(wait)}.",
            )  # fmt: skip
        # Counted whether or not the address is registered, so the answer tells nobody.
        wait = await limits.hit(redis, settings, limits.resend_per_email(settings), email)
        if wait:
            return await box_answer(
                request, db_session, redis, settings, event, status_code=429,
                form={"email": raw},
                notice="If this address is registered, its ticket was already sent a few "
                "minutes ago: please check the inbox and the spam folder, or ask again in "
                f"{wait_text(wait)}.",
            )  # fmt: skip
        registration = await active_registration(db_session, event.id, email)
        if registration is not None:
            await queue_ticket_email(queues, registration.id, "resend")
        # The same answer either way: this form must not tell who is registered.
        outcome = RegisterBoxOutcome(kind="resent", email_hint=mask_email(email))
        return await box_answer(
            request, db_session, redis, settings, event, status_code=200, outcome=outcome
        )
