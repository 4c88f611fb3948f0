"""The sync log (every push, pull and webhook with its result) and the mail outbox."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, get
from litestar.exceptions import NotFoundException
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from community.auth import ORGANISERS, OWNER_ONLY
from community.config import Settings
from community.controllers.admin.common import current_user, fragment, is_htmx, page
from community.models import PLATFORM_LABELS, OutboxMessage
from community.services import access, activity
from community.services.sync_log import DIRECTIONS

OUTBOX_STATUSES = {
    "": "All",
    "kept": "Kept (no SMTP)",
    "queued": "Waiting to send",
    "sent": "Sent",
    "failed": "Failed",
}


class ActivityController(Controller):
    path = "/admin"
    guards = [ORGANISERS]
    include_in_schema = False

    @get("/activity", name="admin:activity", cache=False)
    async def sync_log(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        event: str = "",
        platform: str = "",
        direction: str = "",
        problems: str = "",
    ) -> Template:
        flt = activity.SyncFilter.parse(event, platform, direction, problems)
        scope = access.managed_events(await current_user(request))
        context = {
            "rows": await activity.sync_entries(db_session, flt, scope=scope),
            "flt": flt,
            "labels": PLATFORM_LABELS,
            "directions": DIRECTIONS,
            "query": request.url.query,
        }
        if is_htmx(request) and request.headers.get("hx-target") == "sync-rows":
            return fragment("admin/activity/_sync_rows.html", **context)
        return await page(
            request,
            "admin/activity/sync_log.html",
            section="activity",
            events=await activity.events_with_sync(db_session, scope=scope),
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
            smtp=settings.smtp.configured,
        )
