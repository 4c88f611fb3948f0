"""What every admin page shares: the signed-in user, flash messages, form reading, lookups.

What an organiser's change reaches (`effects: Effects`) is declared by the handlers and
provided by community.controllers.dependencies."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Request
from litestar.exceptions import NotFoundException
from litestar.response import Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from community.auth import load_user
from community.models import Event, Member, User
from community.services.access import scope as access
from community.services.events.manage import get_event

FLASH_KEY = "flash"
NAV = (
    ("events", "Events", "/admin/events"),
    ("members", "Members", "/admin/members"),
    ("accounts", "Platforms", "/admin/accounts"),
    ("activity", "Sync log", "/admin/activity"),
)
OWNER_NAV = (
    ("outbox", "Outbox", "/admin/outbox"),
    ("users", "Users", "/admin/users"),
)


def flash(request: Request[Any, Any, Any], message: str, kind: str = "ok") -> None:
    """A message for the next page this browser sees (after a redirect)."""
    messages = list(request.session.get(FLASH_KEY) or [])
    messages.append({"kind": kind, "text": message})
    request.session[FLASH_KEY] = messages[-5:]


def take_flashes(request: Request[Any, Any, Any]) -> list[dict[str, str]]:
    if "session" not in request.scope or not request.session.get(FLASH_KEY):
        return []
    return list(request.session.pop(FLASH_KEY))


async def current_user(request: Request[Any, Any, Any]) -> User:
    user = await load_user(request)
    assert user is not None, "guards run before handlers"
    return user


async def page(
    request: Request[Any, Any, Any],
    template: str,
    *,
    section: str,
    status_code: int = 200,
    **context: Any,
) -> Template:
    """Render an admin page with the navigation, the user and any flash messages."""
    user = await current_user(request)
    nav = list(NAV)
    if access.sees_everything(user):
        nav.extend(OWNER_NAV)
    return Template(
        template,
        context={
            "user": user,
            "nav": nav,
            "section": section,
            "flashes": take_flashes(request),
            **context,
        },
        status_code=status_code,
    )


def fragment(template: str, *, status_code: int = 200, **context: Any) -> Template:
    """An htmx partial: no layout, no flashes consumed."""
    return Template(template, context=context, status_code=status_code)


async def form_dict(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The posted form as plain strings (last value wins; files are ignored)."""
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


async def event_or_404(
    request: Request[Any, Any, Any], session: AsyncSession, event_id: UUID
) -> Event:
    """The event, if the signed-in user manages it (services.access.scope); else 404, as if it
    did not exist."""
    event = await get_event(session, event_id)
    if event is None or not access.manages(await current_user(request), event):
        raise NotFoundException("There is no such event; it may have been deleted.")
    return event


async def member_or_404(
    request: Request[Any, Any, Any], session: AsyncSession, member_id: UUID
) -> Member:
    """The profile, if the signed-in user may see it (services.access.scope); else 404."""
    member = await session.scalar(
        select(Member).where(
            Member.id == member_id, access.visible_members(await current_user(request))
        )
    )
    if member is None:
        raise NotFoundException("There is no such member profile.")
    return member
