"""Pass a door check-in back to the platform the attendee registered on, where it can be.

What the platforms allow (see docs/platforms.md): none of them has an API
to mark someone as checked in. Meetup's attendance (ATTENDED / NO_SHOW) is set in its own
UI only; Eventbrite's attendee `checked_in` and barcode status are read-only; Luma's
`checked_in_at` is read-only (hosts with check-in access use Luma's app). So each client's
`mark_checkin` raises NotSupported, and this job records that outcome in the sync log, where
the organiser sees it next to the pushes and pulls. Should a platform add such an endpoint,
only its client changes.

A busy door checks in hundreds of platform guests a minute, and queueing a job costs the web
process a Redis round trip and a few hundred microseconds each: the door API hands its
check-ins to a `PassbackGatherer`, which queues one `pass_checkins_back` job for all those of
the last half second. A registration whose hand-back fails there is queued again on its own
(`pass_checkin_back`, with retries).
"""

from __future__ import annotations

import logging
from collections import Counter
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from community.models import PLATFORM_LABELS, Channel, Listing, Registration
from community.platforms.errors import PlatformError
from community.services.jobs import enqueue_passback
from community.services.mirror import sync_log
from community.services.mirror.clients import client_for_listing
from community.services.mirror.rate_budget import RateBudget
from community.tasks.context import JobContext
from community.tasks.registry import task

ACTION = "mark_checkin"


log = logging.getLogger("community.passback")


@task
async def pass_checkins_back(ctx: JobContext, *, registration_ids: list[str]) -> dict[str, int]:
    """`pass_checkin_back` for each; one that fails is queued again on its own, with retries."""
    outcomes: Counter[str] = Counter()
    failed = []
    for registration_id in registration_ids:
        try:
            outcomes[await pass_checkin_back(ctx, registration_id=registration_id)] += 1
        except Exception as exc:
            log.warning("check-in passback failed", extra={"error": type(exc).__name__})
            failed.append(registration_id)
    if failed:
        await enqueue_passback(ctx["queues"], failed)
    return dict(outcomes)


async def _listing_of(session: AsyncSession, registration: Registration) -> Listing | None:
    if registration.listing_id is not None:
        return await session.get(Listing, registration.listing_id)
    return await session.scalar(
        select(Listing).where(
            Listing.event_id == registration.event_id, Listing.platform == registration.channel
        )
    )


@task
async def pass_checkin_back(ctx: JobContext, *, registration_id: str) -> str:
    """Tell the registration's platform about its check-in; returns the recorded outcome."""
    settings = ctx["settings"]
    async with ctx["session_maker"]() as session:
        registration = await session.get(Registration, UUID(registration_id))
        if (
            registration is None
            or registration.channel == Channel.NATIVE
            or registration.checked_in_at is None
        ):
            return sync_log.SKIPPED  # gone, native, or undone before the job ran
        platform = registration.channel
        label = PLATFORM_LABELS.get(platform, platform)
        listing = await _listing_of(session, registration)
        if listing is None or not registration.external_id:
            await sync_log.record(
                session,
                platform=platform,
                direction="checkin",
                action=ACTION,
                outcome=sync_log.SKIPPED,
                detail=f"No {label} listing or attendee id to pass the check-in to.",
                event_id=registration.event_id,
            )
            await session.commit()
            return sync_log.SKIPPED
        budget = ctx.get("rate_budget") or RateBudget(ctx["redis"], settings.redis_prefix)
        outcome, detail = sync_log.OK, f"Checked in on {label}."
        with sync_log.stopwatch() as watch:
            try:
                client = await client_for_listing(settings, session, listing, budget)
                try:
                    await client.client.mark_checkin(listing.external_id, registration.external_id)
                finally:
                    await client.aclose()
            except PlatformError as exc:
                outcome, detail = sync_log.outcome_of(exc), sync_log.detail_of(exc)
        await sync_log.record(
            session,
            platform=platform,
            direction="checkin",
            action=ACTION,
            outcome=outcome,
            detail=detail,
            duration_ms=watch.ms,
            listing=listing,
        )
        await session.commit()
        return outcome
