""" "My tickets": every registration of one person, reached through a link sent by e-mail.

No password: the visitor types an address, we mail a signed single-use link to it (only if
that address has tickets; the answer on the page is the same either way), and opening the
link remembers the profile in the session.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect
from redis.asyncio import Redis
from saq import Queue
from sqlalchemy.ext.asyncio import AsyncSession

from community.config import Settings
from community.controllers.public import remember_places
from community.controllers.public_register import (
    client_address,
    mask_email,
)
from community.controllers.public_render import base_context, fragment
from community.controllers.public_tickets import private_page
from community.services.access import magic_links, visitor_places
from community.services.access import visitor_limits as limits
from community.services.access.limiter import wait_text
from community.services.jobs import queue_signin_email
from community.services.people.members import MAX_EMAIL, normalise_email
from community.sessions import SESSION_ID_KEY, start_session
from community.views import event_pages as pages
from community.views import ticket_pages as tickets

SESSION_KEY = "my_tickets_member"
LINK_PROBLEMS = {
    magic_links.LinkProblem.INVALID: "This sign-in link is not valid. Ask for a new one below.",
    magic_links.LinkProblem.EXPIRED: "This sign-in link has expired (they last 30 minutes). "
    "Ask for a new one below.",
    magic_links.LinkProblem.USED: "This sign-in link was already used. Ask for a new one below.",
}


def _page(
    request: Request[Any, Any, Any], template: str, status_code: int = 200, **context: Any
) -> Response[Any]:
    full = base_context(
        pages.DEFAULT_THEME, page_title="My tickets", robots="noindex, nofollow", nav="tickets"
    )
    full.update(context)
    return private_page(request, template, full, status_code=status_code)


def _link_problem_page(
    request: Request[Any, Any, Any], exc: magic_links.LinkError
) -> Response[Any]:
    """The sign-in form again, saying why the link in the e-mail did not work."""
    return _page(
        request,
        "public/my_tickets_signin.html",
        status_code=410 if exc.problem != magic_links.LinkProblem.INVALID else 400,
        email="",
        errors={},
        sent="",
        notice=LINK_PROBLEMS[exc.problem],
    )


def _signed_in_member(request: Request[Any, Any, Any]) -> UUID | None:
    raw = request.session.get(SESSION_KEY) if "session" in request.scope else None
    try:
        return UUID(str(raw)) if raw else None
    except ValueError:
        return None


class MyTicketsController(Controller):
    path = "/my-tickets"
    include_in_schema = False

    @get("/", name="my_tickets:page")
    async def page(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, settings: Settings
    ) -> Response[Any]:
        member_id = _signed_in_member(request)
        if member_id is not None and await tickets.member_exists(db_session, member_id):
            rows = await tickets.member_tickets(db_session, member_id)
            views = {row.event.id: pages.build_view(row.event, settings.base_url) for row in rows}
            upcoming = [r for r in rows if not r.is_past]
            past = [r for r in reversed(rows) if r.is_past]
            return _page(
                request, "public/my_tickets.html", upcoming=upcoming, past=past, views=views
            )
        return _page(request, "public/my_tickets_signin.html", email="", errors={}, sent="")

    @post("/", name="my_tickets:request_link", status_code=200)
    async def request_link(
        self,
        request: HTMXRequest,
        db_session: AsyncSession,
        redis: Redis,
        settings: Settings,
        queues: dict[str, Queue],
    ) -> Response[Any]:
        form = await request.form()
        raw = form.get("email", "")
        raw = raw.strip() if isinstance(raw, str) else ""

        def answer(status: int, **context: Any) -> Response[Any]:
            context = {"email": raw[:MAX_EMAIL], "errors": {}, "sent": "", **context}
            if request.htmx:
                full = base_context(pages.DEFAULT_THEME, **context)
                return fragment(request, "public/my_tickets_form.html", full, status_code=status)
            return _page(request, "public/my_tickets_signin.html", status_code=status, **context)

        try:
            if len(raw) > MAX_EMAIL:
                raise ValueError(f"An e-mail address can be at most {MAX_EMAIL} characters long.")
            email = normalise_email(raw)
        except ValueError as exc:
            return answer(422, errors={"email": str(exc)})
        address = client_address(request)
        wait = await limits.hit(redis, settings, limits.SIGNIN_PER_ADDRESS, address)
        wait = wait or await limits.hit(redis, settings, limits.SIGNIN_PER_EMAIL, email)
        if wait:
            return answer(429, notice=f"Too many links asked for. Try again in {wait_text(wait)}.")
        member = await tickets.member_by_email(db_session, email)
        if member is not None and await tickets.member_tickets(db_session, member.id):
            await queue_signin_email(queues, member.id, email)
        # Same answer whether or not the address has tickets: the form tells nobody who does.
        return answer(200, sent=mask_email(email))

    @get("/signin/{token:str}", name="my_tickets:signin_form")
    async def signin_form(
        self, request: Request[Any, Any, Any], token: str, redis: Redis, settings: Settings
    ) -> Response[Any]:
        """Opening the link shows a button: mail scanners that follow links don't spend it."""
        try:
            claim = magic_links.read_token(settings.secret_key, token)
            if await magic_links.is_spent(redis, settings, claim):
                raise magic_links.LinkError(magic_links.LinkProblem.USED)
        except magic_links.LinkError as exc:
            return _link_problem_page(request, exc)
        return _page(request, "public/my_tickets_confirm.html", token=token)

    @post("/signin/{token:str}", name="my_tickets:signin", status_code=303)
    async def signin(
        self,
        request: Request[Any, Any, Any],
        token: str,
        db_session: AsyncSession,
        redis: Redis,
        settings: Settings,
    ) -> Response[Any]:
        try:
            claim = await magic_links.consume(redis, settings, token)
        except magic_links.LinkError as exc:
            return _link_problem_page(request, exc)
        # A new session id for the newly proven identity (never the one the browser brought).
        kept = dict(request.session) if "session" in request.scope else {}
        start_session(request, {**kept, SESSION_KEY: claim.member_id})
        # The event pages show this person's places too, from a signed cookie (no session).
        try:
            member_id = UUID(str(claim.member_id))
        except ValueError:
            member_id = None
        places = (
            [] if member_id is None else await visitor_places.member_places(db_session, member_id)
        )
        return remember_places(Redirect("/my-tickets", status_code=303), request, settings, places)

    @post("/signout", name="my_tickets:signout", status_code=303)
    async def signout(self, request: Request[Any, Any, Any]) -> Redirect:
        session = {k: v for k, v in dict(request.session).items() if k != SESSION_KEY}
        # Nothing left but the sign-in's id: the session ends (its Redis key goes too).
        request.set_session(session if set(session) - {SESSION_ID_KEY} else {})
        return Redirect("/my-tickets", status_code=303)
