"""What a listing should show now (its target), and whether it is owed a push."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from uuid import UUID

from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from community.models import Event, Listing, SyncState
from community.services.mirror.coalescing import Coalescer
from community.services.mirror.counts import live_counts
from community.services.mirror.plan import ListingPlan, needs_push
from community.services.seats.allocation import Allotment, allotment_for, listing_plan
from community.services.seats.refusals import RegistrationError
from community.tasks.context import JobContext

log = logging.getLogger("community.mirror")


@dataclass(frozen=True)
class Target:
    listing_id: UUID
    event_id: UUID
    platform: str
    external_id: str
    plan: ListingPlan
    platform_count: int
    shared_left: int
    remote_state: str
    allotment: Allotment
    # The platform's own count as it last reported it: a push never goes below it.
    floor: int = 0


async def read_target(ctx: JobContext, listing_id: UUID) -> Target | None:
    """The listing's target now, or None when it needs no push (or no longer exists).

    In strict mode the listing's share of the shared seats is promised to it here, before the
    push: the promise is what keeps natives and the other listings off those seats.
    None as well while the listing is being pulled: its own count and ours are moving, and
    the pull pushes once it has recorded everyone (tasks.pull).
    """
    pulling = Coalescer(ctx["redis"], ctx["settings"].redis_prefix, "pull")
    if (await pulling.progress(listing_id)).runner_active:
        return None
    async with ctx["session_maker"]() as session:
        listing = await session.get(Listing, listing_id)
        if listing is None:
            return None
        event = await session.get(Event, listing.event_id)
        if event is None:
            return None
        counts = await live_counts(ctx["settings"], ctx["redis"], ctx["session_maker"], event)
        inventory = counts.service.inventory if counts.service is not None else None
        allotment = await allotment_for(
            session,
            event,
            listing.platform,
            counts.counts,
            accepting=counts.accepting,
            inventory=inventory,
        )
        plan = listing_plan(
            event, listing.platform, listing.platform_count, allotment, accepting=counts.accepting
        )
        if not _owes(plan, listing, in_step=listing.sync_state == SyncState.IN_STEP):
            return None
        if listing.sync_state != SyncState.ERROR:  # a failing listing shows its error meanwhile
            listing.sync_state = SyncState.PUSHING
            await session.commit()
        return Target(
            listing_id=listing.id,
            event_id=event.id,
            platform=listing.platform,
            external_id=listing.external_id,
            plan=plan,
            platform_count=listing.platform_count,
            shared_left=counts.shared_left,
            remote_state=listing.remote_state,
            allotment=allotment,
            floor=listing.remote_going,
        )


async def _planned(ctx: JobContext, session: AsyncSession, listing: Listing) -> ListingPlan | None:
    """The listing's plan now, previewed (nothing promised); None when its event is gone."""
    event = await session.get(Event, listing.event_id)
    if event is None:
        return None
    counts = await live_counts(ctx["settings"], ctx["redis"], ctx["session_maker"], event)
    allotment = await allotment_for(
        session, event, listing.platform, counts.counts, accepting=counts.accepting
    )
    return listing_plan(
        event, listing.platform, listing.platform_count, allotment, accepting=counts.accepting
    )


def _owes(plan: ListingPlan, listing: Listing, *, in_step: bool) -> bool:
    """Whether the listing does not show `plan` yet, by what we last pushed to it."""
    return needs_push(
        plan,
        platform=listing.platform,
        last_pushed_limit=listing.last_pushed_limit,
        remote_state=listing.remote_state,
        in_step=in_step,
    )


async def push_owed(ctx: JobContext, listing_id: UUID) -> bool:
    """Whether the listing does not show its target yet, by what we last pushed to it.

    True when it never got a limit from us, or the limit or state it last got is not the plan
    now, and always for a listing in error: a pull that worked means the platform answers
    again, so the failing listing is re-driven at once instead of at its next retry time. When
    the counts cannot be read, True: the push job reads the target again when it runs and
    skips if nothing is owed.
    """
    try:
        async with ctx["session_maker"]() as session:
            listing = await session.get(Listing, listing_id)
            if listing is None:
                return False
            if listing.sync_state == SyncState.ERROR:
                return True
            plan = await _planned(ctx, session, listing)
            if plan is None:
                return False
    except (RegistrationError, DBAPIError, RedisError, OSError) as exc:
        log.warning(
            "could not tell whether a push is owed",
            extra={"listing_id": str(listing_id), "error": type(exc).__name__},
        )
        return True
    return _owes(plan, listing, in_step=True)
