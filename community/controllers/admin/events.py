"""Organiser pages for events: list, create, edit with a live theme preview, publish, cancel,
import from a platform and link further listings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Response, Template
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from community.auth import ORGANISERS
from community.config import Settings
from community.controllers.admin import event_form
from community.controllers.admin.common import (
    current_user,
    event_or_404,
    flash,
    form_dict,
    page,
)
from community.controllers.public import event_page_context
from community.controllers.public_render import render
from community.db import app_session_maker
from community.models import PLATFORM_LABELS, Event, EventStatus, User
from community.services.access import scope as access
from community.services.events import importing as event_import
from community.services.events import manage as events
from community.services.events.manage import InvalidInput
from community.services.events.organiser_changes import (
    Effects,
    after_event_change,
    after_listing_linked,
    cancel_event,
)
from community.services.mirror.rate_budget import RateBudget
from community.views.event_stats import confirmed_by_event

FILTERS = {
    "upcoming": "Upcoming",
    "drafts": "Drafts",
    "past": "Past",
    "cancelled": "Cancelled",
}
COMMON_TIMEZONES = (
    "Europe/London", "Europe/Dublin", "Europe/Lisbon", "Europe/Paris", "Europe/Berlin",
    "Europe/Amsterdam", "Europe/Madrid", "Europe/Rome", "Europe/Stockholm", "Europe/Warsaw",
    "Europe/Athens", "Europe/Helsinki", "America/New_York", "America/Chicago",
    "America/Denver", "America/Los_Angeles", "America/Toronto", "America/Sao_Paulo",
    "Asia/Tokyo", "Asia/Singapore", "Asia/Kolkata", "Australia/Sydney", "UTC",
)  # fmt: skip


async def _event_list(session: AsyncSession, show: str, user: User) -> list[Event]:
    now = datetime.now(UTC)
    query = select(Event).where(Event.deleted_at.is_(None), access.managed_events(user))
    recent = now - timedelta(hours=6)
    if show == "drafts":
        query = query.where(Event.status == EventStatus.DRAFT).order_by(Event.starts_at)
    elif show == "past":
        query = query.where(
            Event.status == EventStatus.PUBLISHED, Event.starts_at < recent
        ).order_by(Event.starts_at.desc())
    elif show == "cancelled":
        query = query.where(Event.status == EventStatus.CANCELLED).order_by(Event.starts_at.desc())
    else:
        query = query.where(
            Event.status != EventStatus.CANCELLED, Event.starts_at >= recent
        ).order_by(Event.starts_at)
    return list(await session.scalars(query.limit(200)))


def _form_context(values: dict[str, str], errors: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "values": values,
        "errors": errors,
        "timezones": COMMON_TIMEZONES,
        **extra,
    }


class EventsController(Controller):
    path = "/admin"
    guards = [ORGANISERS]
    include_in_schema = False
    # A 20,000-character description in any script, percent-encoded, passes 64 KB.
    request_max_body_size = 256 * 1024

    @get("/", name="admin:home")
    async def home(self) -> Redirect:
        return Redirect("/admin/events")

    @get("/events", name="admin:events")
    async def list_events(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, show: str = "upcoming"
    ) -> Template:
        show = show if show in FILTERS else "upcoming"
        items = await _event_list(db_session, show, await current_user(request))
        taken = await confirmed_by_event(db_session, [e.id for e in items])
        return await page(
            request,
            "admin/events/list.html",
            section="events",
            events=items,
            taken=taken,
            show=show,
            filters=FILTERS,
            labels=PLATFORM_LABELS,
        )

    @get("/events/new", name="admin:event_new")
    async def new_event(self, request: Request[Any, Any, Any]) -> Template:
        return await page(
            request,
            "admin/events/form.html",
            section="events",
            event=None,
            **_form_context(event_form.blank_form(), {}),
        )

    @post("/events", name="admin:event_create")
    async def create_event(
        self, request: Request[Any, Any, Any], db_session: AsyncSession
    ) -> Template | Redirect:
        form = await form_dict(request)
        try:
            details, seats = event_form.parse_new_event_form(form)
        except InvalidInput as exc:
            return await page(
                request,
                "admin/events/form.html",
                section="events",
                event=None,
                status_code=422,
                **_form_context({**event_form.blank_form(), **form}, exc.errors),
            )
        event = await events.create_event(db_session, details, seats, await current_user(request))
        flash(request, f"“{event.title}” is saved as a draft. Publish it when it is ready.")
        return Redirect(f"/admin/events/{event.id}")

    @post("/events/preview", name="admin:event_preview", status_code=200)
    async def preview(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        redis: Redis,
        settings: Settings,
    ) -> Response[str]:
        """The themed public page for the form's current values, inside a sandboxed frame."""
        form = await form_dict(request)
        base = None
        if event_id := form.get("event_id"):
            try:
                base = await events.get_event(db_session, UUID(event_id))
            except ValueError:
                base = None
            if base is not None and not access.manages(await current_user(request), base):
                base = None
        transient = event_form.preview_event(form, base)
        context = await event_page_context(db_session, redis, settings, transient)
        html = render(request, f"themes/{context['theme']}/event.html", context)
        theme_name = "Luma" if transient.theme == "luma" else "Meetup"
        frame = (
            f'<iframe class="preview-frame" title="Preview of the public page, {theme_name} look"'
            f' sandbox="allow-same-origin" loading="lazy" srcdoc="{escape(html, quote=True)}">'
            "</iframe>"
        )
        return Response(frame, media_type="text/html")

    @get("/events/import", name="admin:event_import")
    async def import_page(self, request: Request[Any, Any, Any]) -> Template:
        return await page(
            request,
            "admin/events/import.html",
            section="events",
            values={"source": "", "platform": ""},
            errors={},
            labels=PLATFORM_LABELS,
        )

    @post("/events/import", name="admin:event_import_post")
    async def import_event(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        redis: Redis,
        settings: Settings,
        effects: Effects,
    ) -> Template | Redirect:
        form = await form_dict(request)
        try:
            ref = event_import.parse_listing_ref(form.get("source", ""), form.get("platform", ""))
            event, listing = await event_import.import_event(
                db_session,
                settings,
                await current_user(request),
                ref,
                RateBudget(redis, settings.redis_prefix),
                app_session_maker(request.app),
            )
        except InvalidInput as exc:
            return await page(
                request,
                "admin/events/import.html",
                section="events",
                status_code=422,
                values={"source": form.get("source", ""), "platform": form.get("platform", "")},
                errors=exc.errors,
                labels=PLATFORM_LABELS,
            )
        await after_listing_linked(effects, listing)
        label = PLATFORM_LABELS[listing.platform]
        if event.status == EventStatus.PUBLISHED:
            flash(
                request,
                f"Imported “{event.title}” from {label}. Its native page is live, its "
                f"registrations are coming in, and {label} now follows the seats set here.",
            )
        else:
            flash(
                request,
                f"Imported “{event.title}” from {label} as a draft, as it is on {label}. "
                "Check the details, then publish: its registrations come in from then on.",
            )
        return Redirect(f"/admin/events/{event.id}")

    @get("/events/{event_id:uuid}/edit", name="admin:event_edit")
    async def edit_event(
        self, request: Request[Any, Any, Any], event_id: UUID, db_session: AsyncSession
    ) -> Template:
        event = await event_or_404(request, db_session, event_id)
        return await page(
            request,
            "admin/events/form.html",
            section="events",
            event=event,
            tab="details",
            **_form_context(event_form.form_values(event), {}),
        )

    @post("/events/{event_id:uuid}/edit", name="admin:event_update")
    async def update_event(
        self,
        request: Request[Any, Any, Any],
        event_id: UUID,
        db_session: AsyncSession,
        effects: Effects,
    ) -> Template | Redirect:
        event = await event_or_404(request, db_session, event_id)
        form = await form_dict(request)
        try:
            details = event_form.parse_event_form(form)
            await events.update_event(db_session, event, details)
        except InvalidInput as exc:
            return await page(
                request,
                "admin/events/form.html",
                section="events",
                event=event,
                tab="details",
                status_code=422,
                **_form_context({**event_form.form_values(event), **form}, exc.errors),
            )
        except events.EventStateError as exc:
            flash(request, str(exc), "error")
            return Redirect(f"/admin/events/{event.id}")
        # The Traffic Cop re-reads the event: a price makes its seats bought, not taken.
        await after_event_change(effects, event)
        flash(request, "Changes saved.")
        return Redirect(f"/admin/events/{event.id}")

    @post("/events/{event_id:uuid}/publish", name="admin:event_publish")
    async def publish(
        self,
        request: Request[Any, Any, Any],
        event_id: UUID,
        db_session: AsyncSession,
        settings: Settings,
        effects: Effects,
    ) -> Redirect:
        event = await event_or_404(request, db_session, event_id)
        try:
            await events.publish_event(db_session, event, stripe=settings.stripe)
        except events.EventStateError as exc:
            flash(request, str(exc), "error")
        else:
            await after_event_change(effects, event)
            flash(request, f"“{event.title}” is live at {settings.base_url}/events/{event.slug}")
        return Redirect(f"/admin/events/{event.id}")

    @post("/events/{event_id:uuid}/unpublish", name="admin:event_unpublish")
    async def unpublish(
        self, request: Request[Any, Any, Any], event_id: UUID, db_session: AsyncSession
    ) -> Redirect:
        event = await event_or_404(request, db_session, event_id)
        try:
            await events.unpublish_event(db_session, event)
        except events.EventStateError as exc:
            flash(request, str(exc), "error")
        else:
            flash(request, "The event is a draft again; its page is offline.")
        return Redirect(f"/admin/events/{event.id}")

    @post("/events/{event_id:uuid}/cancel", name="admin:event_cancel")
    async def cancel(
        self,
        request: Request[Any, Any, Any],
        event_id: UUID,
        db_session: AsyncSession,
        effects: Effects,
    ) -> Redirect:
        event = await event_or_404(request, db_session, event_id)
        form = await form_dict(request)
        if form.get("confirm") != event.slug:
            flash(request, "To cancel, type the event's short name exactly as shown.", "error")
            return Redirect(f"/admin/events/{event.id}#danger")
        if await cancel_event(effects, event):
            flash(
                request,
                f"“{event.title}” is cancelled. Its page now says so, everyone registered is "
                "being told by e-mail, and the platform listings are closing.",
            )
        else:
            flash(request, f"“{event.title}” is cancelled. Its page now says so.")
        return Redirect(f"/admin/events/{event.id}")

    @post("/events/{event_id:uuid}/listings", name="admin:listing_link")
    async def link_listing(
        self,
        request: Request[Any, Any, Any],
        event_id: UUID,
        db_session: AsyncSession,
        redis: Redis,
        settings: Settings,
        effects: Effects,
    ) -> Template | Redirect:
        event = await event_or_404(request, db_session, event_id)
        form = await form_dict(request)
        try:
            ref = event_import.parse_listing_ref(form.get("source", ""), form.get("platform", ""))
            listing = await event_import.link_listing(
                db_session,
                settings,
                await current_user(request),
                event,
                ref,
                RateBudget(redis, settings.redis_prefix),
                app_session_maker(request.app),
            )
        except InvalidInput as exc:
            from community.controllers.admin.overview import overview_page

            return await overview_page(
                request,
                effects,
                event,
                link_values=form,
                link_errors=exc.errors,
                status_code=422,
            )
        await after_listing_linked(effects, listing)
        label = PLATFORM_LABELS[listing.platform]
        if event.status != EventStatus.PUBLISHED:
            flash(request, f"Linked the {label} listing. Its people come in once you publish.")
        else:
            flash(
                request,
                f"Linked the {label} listing. Its registrations are coming in, and its limit "
                "follows the shared seats from now on.",
            )
        return Redirect(f"/admin/events/{event.id}")
