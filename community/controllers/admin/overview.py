"""An event's overview: the live inventory panel, its listings, the charts; seat settings
edited in place and a retry for a listing that failed to push."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from community.auth import ORGANISERS, OWNER_ONLY
from community.controllers.admin.common import (
    current_user,
    event_or_404,
    flash,
    form_dict,
    fragment,
    page,
)
from community.controllers.admin.event_form import parse_seats
from community.models import PLATFORM_LABELS, Event, Listing
from community.services.access import scope as access
from community.services.events.manage import InvalidInput
from community.services.events.organiser_changes import (
    Effects,
    change_seats,
    retry_listing,
    seats_taken,
)
from community.views import event_stats
from community.views.inventory_panel import build_panel
from community.views.revenue import revenue_view


def seat_values(event: Event) -> dict[str, str]:
    return {
        "capacity": str(event.capacity),
        "native_reserve": str(event.native_reserve),
        "soldout_mode": event.soldout_mode,
        "allocation": event.allocation,
    }


async def overview_page(
    request: Request[Any, Any, Any],
    fx: Effects,
    event: Event,
    *,
    link_values: dict[str, str] | None = None,
    link_errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    session, settings = fx.session, fx.settings
    panel = await build_panel(fx.registrations, session, event)
    chart = await event_stats.registration_chart(session, event)
    revenue = await revenue_view(session, event)
    checkins = await event_stats.checkin_summary(session, event)
    linked = {row.listing.platform for row in panel.listings}
    user = await current_user(request)
    managers = await access.possible_managers(session) if access.sees_everything(user) else []
    return await page(
        request,
        "admin/events/overview.html",
        section="events",
        status_code=status_code,
        event=event,
        tab="overview",
        panel=panel,
        seats=seat_values(event),
        seat_errors={},
        chart=chart,
        revenue=revenue,
        checkins=checkins,
        labels=PLATFORM_LABELS,
        unlinked=[p for p in PLATFORM_LABELS if p not in linked],
        link_values=link_values or {"source": "", "platform": ""},
        link_errors=link_errors or {},
        public_url=f"{settings.base_url}/events/{event.slug}",
        managers=managers,
    )


async def _live_panel(fx: Effects, event: Event) -> Template:
    """The live part of the inventory panel, as the page polls it."""
    panel = await build_panel(fx.registrations, fx.session, event)
    return fragment("admin/events/_inventory_live.html", panel=panel, labels=PLATFORM_LABELS)


class OverviewController(Controller):
    path = "/admin/events/{event_id:uuid}"
    guards = [ORGANISERS]
    include_in_schema = False

    @get("/", name="admin:event")
    async def overview(
        self,
        request: Request[Any, Any, Any],
        event_id: UUID,
        db_session: AsyncSession,
        effects: Effects,
    ) -> Template:
        event = await event_or_404(request, db_session, event_id)
        return await overview_page(request, effects, event)

    @get("/inventory", name="admin:inventory", cache=False)
    async def inventory(
        self,
        request: Request[Any, Any, Any],
        event_id: UUID,
        db_session: AsyncSession,
        effects: Effects,
    ) -> Template:
        """The live part of the panel; the page polls it every two seconds."""
        event = await event_or_404(request, db_session, event_id)
        return await _live_panel(effects, event)

    @post("/inventory", name="admin:inventory_update")
    async def update_seats(
        self,
        request: Request[Any, Any, Any],
        event_id: UUID,
        db_session: AsyncSession,
        effects: Effects,
    ) -> Template:
        event = await event_or_404(request, db_session, event_id)
        form = await form_dict(request)
        errors: dict[str, str] = {}
        notice = ""
        try:
            seats = parse_seats(form, taken=await seats_taken(effects, event))
            notice = await change_seats(effects, event, seats)
        except InvalidInput as exc:
            errors = exc.errors
        panel = await build_panel(effects.registrations, db_session, event)
        return fragment(
            "admin/events/_seats_response.html",
            status_code=422 if errors else 200,
            event=event,
            panel=panel,
            labels=PLATFORM_LABELS,
            seats={**seat_values(event), **form} if errors else seat_values(event),
            seat_errors=errors,
            notice=notice,
        )

    @post("/owner", name="admin:event_owner", guards=[OWNER_ONLY])
    async def hand_over(
        self,
        request: Request[Any, Any, Any],
        event_id: UUID,
        db_session: AsyncSession,
    ) -> Redirect:
        """The owner hands an event to an organiser, who then sees and manages it."""
        event = await event_or_404(request, db_session, event_id)
        form = await form_dict(request)
        try:
            user = await access.hand_over(db_session, event, UUID(form.get("owner_id", "")))
        except ValueError:
            flash(request, "Choose an active organiser.", "error")
            return Redirect(f"/admin/events/{event_id}")
        await db_session.commit()
        flash(request, f"{user.name} now manages “{event.title}”.")
        return Redirect(f"/admin/events/{event_id}")

    @post("/listings/{listing_id:uuid}/retry", name="admin:listing_retry")
    async def retry(
        self,
        request: Request[Any, Any, Any],
        event_id: UUID,
        listing_id: UUID,
        db_session: AsyncSession,
        effects: Effects,
    ) -> Template:
        event = await event_or_404(request, db_session, event_id)
        listing = await db_session.get(Listing, listing_id)
        if listing is None or listing.event_id != event.id:
            raise NotFoundException("That listing does not belong to this event.")
        await retry_listing(effects, listing)
        return await _live_panel(effects, event)
