"""A push the platform took: recorded, and what follows it (seats a strict listing gave up,
the listings that may want them, people the platform has that we have not pulled)."""

from __future__ import annotations

from datetime import UTC, datetime

from community.models import Listing, SyncState
from community.platforms.base import PushResult, RemoteListingState
from community.services.jobs import enqueue_pull, enqueue_push, listing_ids_of
from community.services.mirror import sync_log
from community.services.seats.allocation import settle
from community.services.seats.registrations import RegistrationService
from community.tasks.context import JobContext
from community.tasks.mirror.apply import describe
from community.tasks.mirror.target import Target


async def succeeded(
    ctx: JobContext, target: Target, action: str, result: PushResult, ms: int
) -> None:
    async with ctx["session_maker"]() as session:
        listing = await session.get(Listing, target.listing_id)
        if listing is None:
            return
        listing.last_pushed_limit = target.plan.limit
        listing.remote_going = result.going_count
        listing.remote_state = RemoteListingState(result.state).value
        listing.sync_state = SyncState.IN_STEP
        listing.last_error = ""
        listing.failing_since = listing.retry_at = None
        listing.last_pushed_at = datetime.now(UTC)
        await sync_log.record(
            session,
            listing=listing,
            platform=target.platform,
            direction="push",
            action=action,
            outcome=sync_log.OK,
            detail=describe(target, action, result),
            duration_ms=ms,
        )
        await session.commit()
    allotment = target.allotment
    if allotment.strict:
        service = RegistrationService.build(ctx["settings"], ctx["redis"], ctx["session_maker"])
        freed = await settle(
            service.inventory,
            target.event_id,
            target.platform,
            allotment,
            beyond=result.going_count - target.platform_count,
        )
        if freed:
            # Seats this listing gave up go to whoever waits for one first (over capacity,
            # then the waitlist), and may be what another listing was waiting for.
            await service.promote_waitlist(target.event_id)
            await enqueue_siblings(ctx, target)
    if result.going_count > target.platform_count:
        # The platform has people we have not pulled yet: fetch them, which re-plans the limit.
        await enqueue_pull(ctx["settings"], ctx["redis"], ctx["queues"], target.listing_id)


async def enqueue_siblings(ctx: JobContext, target: Target) -> None:
    async with ctx["session_maker"]() as session:
        ids = await listing_ids_of(session, target.event_id)
    for listing_id in ids:
        if listing_id != target.listing_id:
            await enqueue_push(ctx["settings"], ctx["redis"], ctx["queues"], listing_id)
