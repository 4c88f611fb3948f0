"""Attendees of an event (search, filters, CSV, cancel, promote) and member profiles
(every identity, every event, manual merge and unmerge)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Response, Template
from sqlalchemy.ext.asyncio import AsyncSession

from community.auth import ORGANISERS
from community.controllers.admin.common import (
    current_user,
    event_or_404,
    flash,
    form_dict,
    fragment,
    member_or_404,
    page,
)
from community.controllers.auth import safe_next
from community.models import PLATFORM_LABELS, Member, Registration
from community.services.access import scope as access
from community.services.events.organiser_changes import (
    ActionRefused,
    Effects,
    cancel_registration,
    promote_registration,
    refresh_events,
    release_duplicates,
    seat_over_capacity,
)
from community.services.people import attendees
from community.services.people import merge as member_merge
from community.services.people.attendees import STATUS_LABELS, AttendeeQuery
from community.views.event_pages import CHANNEL_LABELS

LABELS = {"native": "Native", **PLATFORM_LABELS}


def _uuid_or_none(value: str | None) -> UUID | None:
    try:
        return UUID(value or "")
    except ValueError:
        return None


def _pages(total: int) -> int:
    return max(1, -(-total // attendees.PAGE_SIZE))


async def _seat_notice(fx: Effects, registration: Registration) -> str:
    seat = await seat_over_capacity(fx, registration)
    if seat is None:
        raise ActionRefused(
            "No seat is free. Raise the capacity or lower the native reserve first."
        )
    return f"{registration.name or 'The person'} now holds seat {seat}."


class AttendeesController(Controller):
    path = "/admin/events/{event_id:uuid}"
    guards = [ORGANISERS]
    include_in_schema = False

    @get("/attendees", name="admin:attendees")
    async def attendee_list(
        self,
        request: HTMXRequest,
        event_id: UUID,
        db_session: AsyncSession,
        q: str = "",
        channel: str = "",
        status: str = "active",
        page_no: int = 1,
        flag: str = "",
    ) -> Template:
        event = await event_or_404(request, db_session, event_id)
        query = AttendeeQuery.parse(q, channel, "over" if flag == "over" else status, page_no)
        rows, total = await attendees.attendee_page(db_session, event.id, query)
        context: dict[str, Any] = {
            "event": event,
            "rows": rows,
            "total": total,
            "query": query,
            "pages": _pages(total),
            "labels": LABELS,
            "status_labels": STATUS_LABELS,
            "counts": await attendees.status_counts(db_session, event.id),
            "back": request.url.path + ("?" + request.url.query if request.url.query else ""),
        }
        if request.htmx and request.htmx.target == "attendee-results":
            return fragment("admin/members/_attendee_results.html", **context)
        return await page(
            request, "admin/members/attendees.html", section="events", tab="attendees", **context
        )

    @get("/attendees.csv", name="admin:attendees_csv")
    async def attendee_csv(
        self,
        request: Request[Any, Any, Any],
        event_id: UUID,
        db_session: AsyncSession,
        q: str = "",
        channel: str = "",
        status: str = "all",
    ) -> Response[bytes]:
        event = await event_or_404(request, db_session, event_id)
        query = AttendeeQuery.parse(q, channel, status, 1)
        body = await attendees.attendee_csv(db_session, event, query)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
        return Response(
            # A byte-order mark so spreadsheet programs read the names as UTF-8.
            content=("\ufeff" + body).encode(),
            media_type="text/csv; charset=utf-8",
            headers={
                "content-disposition": f'attachment; filename="{event.slug}-attendees-{stamp}.csv"',
                "cache-control": "no-store",
            },
        )

    async def _registration_action(
        self,
        request: Request[Any, Any, Any],
        fx: Effects,
        event_id: UUID,
        registration_id: UUID,
        action: Callable[[Effects, Registration], Awaitable[str]],
    ) -> Redirect:
        """Run one organiser action on a registration of this event, flash its outcome (or
        why it was refused) and go back to the attendee list."""
        await event_or_404(request, fx.session, event_id)
        registration = await fx.session.get(Registration, registration_id)
        if registration is None or registration.event_id != event_id:
            raise NotFoundException("That registration does not belong to this event.")
        form = await form_dict(request)
        try:
            flash(request, await action(fx, registration))
        except ActionRefused as exc:
            flash(request, str(exc), "error")
        return Redirect(safe_next(form.get("back", ""), f"/admin/events/{event_id}/attendees"))

    @post("/registrations/{registration_id:uuid}/cancel", name="admin:registration_cancel")
    async def cancel(
        self,
        request: Request[Any, Any, Any],
        event_id: UUID,
        registration_id: UUID,
        effects: Effects,
    ) -> Redirect:
        return await self._registration_action(
            request, effects, event_id, registration_id, cancel_registration
        )

    @post("/registrations/{registration_id:uuid}/promote", name="admin:registration_promote")
    async def promote(
        self,
        request: Request[Any, Any, Any],
        event_id: UUID,
        registration_id: UUID,
        effects: Effects,
    ) -> Redirect:
        return await self._registration_action(
            request, effects, event_id, registration_id, promote_registration
        )

    @post("/registrations/{registration_id:uuid}/seat", name="admin:registration_seat")
    async def seat(
        self,
        request: Request[Any, Any, Any],
        event_id: UUID,
        registration_id: UUID,
        effects: Effects,
    ) -> Redirect:
        """Give an over-capacity platform registration a seat that has come free."""
        return await self._registration_action(
            request, effects, event_id, registration_id, _seat_notice
        )


async def _settle_merge(
    request: Request[Any, Any, Any],
    fx: Effects,
    member_id: UUID,
    event_ids: Iterable[UUID],
    notice: str,
) -> Redirect:
    """Commit a merge or unmerge, refresh the events it touched and go back to the profile."""
    await fx.session.commit()
    await refresh_events(fx, event_ids)
    flash(request, notice)
    return Redirect(f"/admin/members/{member_id}")


class MembersController(Controller):
    path = "/admin/members"
    guards = [ORGANISERS]
    include_in_schema = False

    @get("/", name="admin:members")
    async def directory(
        self,
        request: HTMXRequest,
        db_session: AsyncSession,
        q: str = "",
        page_no: int = 1,
    ) -> Template:
        page_no = max(1, min(page_no, 10_000))
        scope = access.visible_members(await current_user(request))
        rows, total = await attendees.member_directory(db_session, q, page_no, scope=scope)
        context: dict[str, Any] = {
            "rows": rows,
            "total": total,
            "q": q.strip()[:120],
            "page_no": page_no,
            "pages": _pages(total),
            "labels": LABELS,
        }
        if request.htmx and request.htmx.target == "member-results":
            return fragment("admin/members/_member_results.html", **context)
        return await page(request, "admin/members/directory.html", section="members", **context)

    @get("/{member_id:uuid}", name="admin:member")
    async def profile(
        self,
        request: Request[Any, Any, Any],
        member_id: UUID,
        db_session: AsyncSession,
        q: str = "",
    ) -> Template | Redirect:
        merged = await db_session.get(Member, member_id)
        if (
            merged is not None
            and not merged.identities
            and (target := await member_merge.merged_into(db_session, member_id))
        ):
            await member_or_404(request, db_session, target)  # only to a profile in sight
            flash(request, "This profile was merged; here is the profile it became part of.")
            return Redirect(f"/admin/members/{target}")
        member = await member_or_404(request, db_session, member_id)
        user = await current_user(request)
        candidates: list[attendees.MemberRow] = []
        if q.strip():
            candidates, _ = await attendees.member_directory(
                db_session, q, 1, exclude=member.id, scope=access.visible_members(user)
            )
        return await page(
            request,
            "admin/members/profile.html",
            section="members",
            member=member,
            registrations=await attendees.member_registrations(
                db_session, member.id, scope=access.managed_events(user)
            ),
            parts=await member_merge.merged_parts(db_session, member.id),
            candidates=candidates[:8],
            q=q.strip()[:120],
            labels=LABELS,
            channel_labels=CHANNEL_LABELS,
        )

    @post("/{member_id:uuid}/merge", name="admin:member_merge")
    async def merge(
        self,
        request: Request[Any, Any, Any],
        member_id: UUID,
        db_session: AsyncSession,
        effects: Effects,
    ) -> Redirect | Template:
        member = await member_or_404(request, db_session, member_id)
        form = await form_dict(request)
        try:
            other_id = UUID(form.get("other_id", ""))
            await member_or_404(request, db_session, other_id)  # both must be in sight
        except (ValueError, NotFoundException):
            flash(request, "Choose the profile to merge into this one.", "error")
            return Redirect(f"/admin/members/{member_id}")
        notes: list[str] = []
        try:
            clashes = await member_merge.clashes(db_session, member_id, other_id)
            if clashes and not form.get("confirm"):
                # One person, two seats: offer the choice of the seat to keep, then merge.
                other = await member_or_404(request, db_session, other_id)
                return await page(
                    request,
                    "admin/members/merge_choice.html",
                    section="members",
                    member=member,
                    other=other,
                    clashes=clashes,
                    labels=LABELS,
                )
            if clashes:
                keep = {c.event.id: _uuid_or_none(form.get(f"keep_{c.event.id}")) for c in clashes}
                notes = await release_duplicates(
                    effects, member_id, other_id, {k: v for k, v in keep.items() if v}
                )
            result = await member_merge.merge_members(db_session, member_id, other_id)
        except member_merge.MergeError as exc:
            await db_session.rollback()
            flash(request, str(exc), "error")
            return Redirect(f"/admin/members/{member_id}")
        plural = member_merge.plural
        released = (
            f" {plural(len(clashes), 'duplicate seat', 'duplicate seats')} released."
            if clashes
            else ""
        )
        return await _settle_merge(
            request,
            effects,
            member_id,
            result.event_ids,
            f"Merged: {plural(result.identities_moved, 'identity', 'identities')} and "
            f"{plural(result.registrations_moved, 'registration', 'registrations')} moved here."
            f"{released} {' '.join(notes)} You can undo the merge below.".replace("  ", " "),
        )

    @post("/{member_id:uuid}/unmerge", name="admin:member_unmerge")
    async def unmerge(
        self,
        request: Request[Any, Any, Any],
        member_id: UUID,
        db_session: AsyncSession,
        effects: Effects,
    ) -> Redirect:
        await member_or_404(request, db_session, member_id)
        form = await form_dict(request)
        try:
            original_id = UUID(form.get("original_id", ""))
            result = await member_merge.unmerge_member(db_session, member_id, original_id)
        except ValueError as exc:
            await db_session.rollback()
            message = str(exc) if isinstance(exc, member_merge.MergeError) else "Choose a part."
            flash(request, message, "error")
            return Redirect(f"/admin/members/{member_id}")
        return await _settle_merge(
            request,
            effects,
            member_id,
            result.event_ids,
            "Split off again: that profile has its identities and registrations back.",
        )
