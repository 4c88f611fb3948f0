"""How many of the shared seats each platform listing may offer (docs/inventory.md).

Strict allocation (the default) splits the shared seats left among the channels by their
recent sales, and *promises* each listing its share in the Traffic Cop before the limit is
pushed: a promised seat is never given to a native registrant or to another listing, so the
listings together can never sell more than the pool, whatever they sell between two pulls.
A listing's promise grows only out of seats nobody else was promised; it shrinks only once its
platform confirmed the lower limit. So a listing is never raised before the decreases it relies
on are confirmed by the other platforms.

Shared mode (an organiser's choice) offers every listing the whole pool: faster, but the
platforms together may sell up to (listings - 1) x the pool more than there is until we pull.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from community.models import Allocation, Channel, Event, Listing, Registration
from community.services.mirror.plan import ListingPlan, plan_listing, share_note, split_pool
from community.services.seats.inventory import Counts, Inventory, NotLoaded, Promise

RECENT_SALES_WINDOW = timedelta(minutes=15)
SETTLE_NOW = -2  # promise(): settle against what is recorded at this moment


@dataclass(frozen=True, slots=True)
class Allotment:
    """The shared seats one listing may offer now, beyond its own count."""

    seats: int
    pool: int  # shared seats left in all
    strict: bool
    mark: int = -1  # confirms the promise once the platform took the limit (strict only)


def is_strict(event: Event) -> bool:
    return event.allocation != Allocation.SHARED


async def recent_sales(session: AsyncSession, event_id: UUID) -> dict[str, int]:
    since = datetime.now(UTC) - RECENT_SALES_WINDOW
    rows = await session.execute(
        select(Registration.channel, func.count())
        .where(Registration.event_id == event_id, Registration.created_at >= since)
        .group_by(Registration.channel)
    )
    return {channel: int(n) for channel, n in rows}


async def shares(
    session: AsyncSession, event: Event, pool: int, platforms: Iterable[str]
) -> dict[str, int]:
    """Each channel's share of the pool: the native page and every listed platform."""
    sales = await recent_sales(session, event.id)
    channels = {Channel.NATIVE.value, *platforms}
    return split_pool(pool, {ch: sales.get(ch, 0) for ch in channels})


def preview(counts: Counts, platform: str, share: int, pool: int) -> Allotment:
    """What `allot` would give, without promising anything (panels, "is a push owed?")."""
    promised = counts.promised.get(platform, 0)
    seats = share
    if share > promised:
        seats = min(share, promised + max(0, counts.unpromised_left))
    return Allotment(seats=seats, pool=pool, strict=True)


async def allot(
    inventory: Inventory, event: Event, platform: str, share: int, pool: int
) -> Allotment | None:
    """Promise the listing its share before its limit is pushed; None when Redis lost the event."""
    promise = await inventory.promise(event.id, platform, share)
    if not isinstance(promise, Promise):
        return None
    return Allotment(seats=promise.seats, pool=pool, strict=True, mark=promise.mark)


async def settle(
    inventory: Inventory, event_id: UUID, platform: str, allotment: Allotment, *, beyond: int
) -> bool:
    """The platform took the limit: keep promised only what it may still sell of it, plus what
    it sold that we have not recorded yet. `beyond` is how many more people the platform
    reported going than the count the limit was planned on: a limit below them sells nothing
    more, but they are not recorded yet and still need their seats.

    True when seats came back to the pool (someone waiting may have one now).
    """
    if not (allotment.strict and allotment.mark >= 0):
        return False
    unsold = max(allotment.seats, beyond)
    return _shrank(await inventory.promise(event_id, platform, unsold, mark=allotment.mark))


def _shrank(result: Promise | NotLoaded) -> bool:
    return isinstance(result, Promise) and result.seats < result.before


def listing_plan(
    event: Event, platform: str, platform_count: int, allotment: Allotment, *, accepting: bool
) -> ListingPlan:
    """The listing's target: its own count plus its allotment, or closed when that is zero."""
    plan = plan_listing(
        platform=platform,
        platform_count=platform_count,
        shared_left=allotment.seats,
        mode=event.soldout_mode,
        accepting=accepting,
    )
    if allotment.strict and accepting and allotment.pool > 0:
        note = share_note(platform, allotment.seats, allotment.pool)
        if note:
            plan = ListingPlan(plan.limit, plan.state, " ".join(filter(None, [plan.note, note])))
    return plan


async def listed_platforms(session: AsyncSession, event_id: UUID) -> list[str]:
    rows = await session.scalars(select(Listing.platform).where(Listing.event_id == event_id))
    return list(rows)


async def allotment_for(
    session: AsyncSession,
    event: Event,
    platform: str,
    counts: Counts | None,
    *,
    accepting: bool,
    inventory: Inventory | None = None,
) -> Allotment:
    """The listing's allotment now. With `inventory`, its share is promised (a push follows);
    without, it is only previewed."""
    strict = is_strict(event)
    if counts is None:
        return Allotment(seats=0, pool=0, strict=strict)
    pool = max(0, counts.shared_left) if accepting else 0
    if not strict:
        if inventory is not None and counts.promised_total:
            await inventory.drop_promises(event.id)
        return Allotment(seats=pool, pool=pool, strict=False)
    share = (await shares(session, event, pool, await listed_platforms(session, event.id)))[
        platform
    ]
    if inventory is None:
        return preview(counts, platform, share, pool)
    allotted = await allot(inventory, event, platform, share, pool)
    if allotted is None:
        # Redis lost the event just now: offer no more than was already promised.
        promised = counts.promised.get(platform, 0)
        return Allotment(seats=min(share, promised), pool=pool, strict=True)
    return allotted


async def settle_after_pull(inventory: Inventory, event: Event, listing: Listing) -> bool:
    """A pull has just recorded the listing's people: its promise need not be more than what
    its confirmed limit lets it sell beyond the count the pull read first. Only shrinks;
    True when seats came back to the pool."""
    if not is_strict(event) or listing.last_pushed_limit is None:
        return False
    unsold = max(0, listing.last_pushed_limit - listing.platform_count)
    return _shrank(await inventory.promise(event.id, listing.platform, unsold, mark=SETTLE_NOW))
