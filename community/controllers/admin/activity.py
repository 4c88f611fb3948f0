"""The sync log (every push, pull and webhook with its result) and the mail outbox."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, get
from litestar.exceptions import NotFoundException
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from community.auth import ORGANISERS, OWNER_ONLY
from community.config import Settings
from community.controllers.admin.common import current_user, event_or_404, fragment, page
from community.models import PLATFORM_LABELS, OutboxMessage
from community.services.access import scope as access
from community.services.mirror.sync_log import DIRECTIONS
from community.views import activity

OUTBOX_STATUSES = {
    "": "All",
    "kept": "Kept (no SMTP)",
    "queued": "Waiting to send",
    "sending": "Sending",
    "sent": "Sent",
    "failed": "Failed",
    "suppressed": "Held back (repeat or quota)",
}


async def _log_context(
    request: Request[Any, Any, Any], session: AsyncSession, flt: activity.SyncFilter, url: str
) -> dict[str, Any]:
    # Only the events this user manages (services.access.scope).
    scope = access.managed_events(await current_user(request))
    return {
        "rows": await activity.sync_entries(session, flt, scope=scope),
        "checks": await activity.last_checks(session, flt, scope=scope),
        "flt": flt,
        "labels": PLATFORM_LABELS,
        "directions": DIRECTIONS,
        "query": request.url.query,
        "rows_url": url,
    }


class ActivityController(Controller):
    path = "/admin"
    guards = [ORGANISERS]
    include_in_schema = False

    @get("/activity", name="admin:activity", cache=False)
    async def sync_log(
        self,
        request: HTMXRequest,
        db_session: AsyncSession,
        event: str = "",
        platform: str = "",
        direction: str = "",
        problems: str = "",
    ) -> Template | Redirect:
        flt = activity.SyncFilter.parse(event, platform, direction, problems)
        if flt.event_id is not None and not request.htmx:
            # One event's log lives on that event's own tab.
            query = request.url.query.replace(f"event={event}", "").strip("&")
            suffix = f"?{query}" if query else ""
            return Redirect(f"/admin/events/{flt.event_id}/activity{suffix}")
        context = await _log_context(request, db_session, flt, "/admin/activity")
        scope = access.managed_events(await current_user(request))
        if request.htmx and request.htmx.target == "sync-rows":
            return fragment("admin/activity/_sync_rows.html", **context)
        return await page(
            request,
            "admin/activity/sync_log.html",
            section="activity",
            events=await activity.events_with_sync(db_session, scope=scope),
            **context,
        )

    @get("/events/{event_id:uuid}/activity", name="admin:event_activity", cache=False)
    async def event_log(
        self,
        request: HTMXRequest,
        event_id: UUID,
        db_session: AsyncSession,
        platform: str = "",
        direction: str = "",
        problems: str = "",
    ) -> Template:
        """The sync log of one event, on its own tab, filtered to it."""
        event = await event_or_404(request, db_session, event_id)
        flt = activity.SyncFilter.parse(str(event_id), platform, direction, problems)
        context = await _log_context(request, db_session, flt, f"/admin/events/{event_id}/activity")
        if request.htmx and request.htmx.target == "sync-rows":
            return fragment("admin/activity/_sync_rows.html", **context)
        return await page(
            request,
            "admin/activity/event_log.html",
            section="events",
            event=event,
            tab="activity",
            **context,
        )

    # Every e-mail sent, to anyone, for any event: the owner's to read.
    @get("/outbox", name="admin:outbox", cache=False, guards=[OWNER_ONLY])
    async def outbox(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        settings: Settings,
        status: str = "",
        page_no: int = 1,
    ) -> Template:
        messages, total = await activity.outbox_messages(db_session, status, page_no)
        return await page(
            request,
            "admin/activity/outbox.html",
            section="outbox",
            messages=messages,
            total=total,
            status=status if status in OUTBOX_STATUSES else "",
            statuses=OUTBOX_STATUSES,
            smtp=settings.smtp.configured,
        )

    @get("/outbox/{message_id:uuid}", name="admin:outbox_message", guards=[OWNER_ONLY])
    async def outbox_message(
        self,
        request: Request[Any, Any, Any],
        message_id: UUID,
        db_session: AsyncSession,
        settings: Settings,
    ) -> Template:
        message = await db_session.get(OutboxMessage, message_id)
        if message is None:
            raise NotFoundException("There is no such message in the outbox.")
        return await page(
            request,
            "admin/activity/message.html",
            section="outbox",
            message=message,
            preview=activity.preview_html(message),
            smtp=settings.smtp.configured,
        )
