"""The organiser's live view of an event's seats.

Counts come from the Traffic Cop when it holds the event (so seats held mid-checkout show),
else from the ledger. Per listing the panel shows the platform's own count, the limit last
pushed, the target the mirror is heading for and whether the listing is in step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from community.models import (
    Channel,
    Event,
    Listing,
    Registration,
    RegistrationStatus,
    SoldOutMode,
    SyncState,
)
from community.services.mirror.plan import ListingPlan, needs_push
from community.services.mirror.seat_ledger import PlatformLedger, platform_ledgers
from community.services.seats.allocation import allotment_for, listing_plan
from community.services.seats.inventory import Counts
from community.services.seats.ledger import accepting as event_accepting
from community.services.seats.refusals import RegistrationError
from community.services.seats.registrations import RegistrationService

CHANNEL_ORDER = [c.value for c in Channel]


async def ledger_counts(session: AsyncSession, event: Event) -> Counts:
    """The inventory as PostgreSQL records it, for when the Traffic Cop cannot answer."""
    rows = await session.execute(
        select(
            Registration.channel,
            Registration.status,
            Registration.seat_no.is_not(None),
            func.count(),
        )
        .where(
            Registration.event_id == event.id,
            Registration.status != RegistrationStatus.CANCELLED,
        )
        .group_by(Registration.channel, Registration.status, Registration.seat_no.is_not(None))
    )
    per_channel = dict.fromkeys(CHANNEL_ORDER, 0)
    native = external = over = waiting = 0
    for channel, status, seated, count in rows:
        if status == RegistrationStatus.WAITLISTED:
            waiting += count
        elif not seated:
            over += count
        else:
            per_channel[channel] = per_channel.get(channel, 0) + count
            if channel == Channel.NATIVE:
                native += count
            else:
                external += count
    return Counts(
        capacity=event.capacity,
        reserve=event.native_reserve,
        mode=SoldOutMode(event.soldout_mode),
        open=event_accepting(event),
        native=native,
        external=external,
        held=0,
        over_capacity=over,
        waiting=waiting,
        free=max(0, event.capacity - native - external),
        per_channel=per_channel,
    )


@dataclass(frozen=True)
class ListingRow:
    listing: Listing
    plan: ListingPlan
    in_step: bool

    @property
    def state(self) -> str:
        """in_step / pushing / error, as the organiser reads it."""
        if self.listing.sync_state == SyncState.ERROR:
            return "error"
        if self.listing.sync_state == SyncState.PUSHING or not self.in_step:
            return "pushing"
        return "in_step"


@dataclass(frozen=True)
class OverCapacityRow:
    registration_id: UUID
    member_id: UUID | None  # None for a guest's place (a Meetup +1, an extra ticket)
    name: str
    channel: str
    created_at: datetime


@dataclass(frozen=True)
class Panel:
    event: Event
    counts: Counts
    live: bool  # True when the counts came from the Traffic Cop
    listings: list[ListingRow]
    over_capacity: list[OverCapacityRow] = field(default_factory=list)
    ledgers: dict[str, PlatformLedger] = field(default_factory=dict)

    @property
    def accepting(self) -> bool:
        return event_accepting(self.event) and self.counts.open

    @property
    def channels(self) -> list[tuple[str, int]]:
        return [(c, self.counts.per_channel.get(c, 0)) for c in CHANNEL_ORDER]

    @property
    def shared_capacity(self) -> int:
        return self.counts.capacity - self.counts.reserve

    @property
    def reserve_used(self) -> int:
        return min(self.counts.native, self.counts.reserve)

    def percent(self, value: int) -> float:
        return 100 * value / self.counts.capacity if self.counts.capacity else 0


async def build_panel(service: RegistrationService, session: AsyncSession, event: Event) -> Panel:
    """Counts from the Traffic Cop (loading the event from the ledger if it must)."""
    live = True
    try:
        counts = await service.counts(event.id)
    except RegistrationError:
        live = False  # Redis unreachable: show the ledger, and say so
        counts = await ledger_counts(session, event)
    listings = list(
        await session.scalars(
            select(Listing).where(Listing.event_id == event.id).order_by(Listing.platform)
        )
    )
    accepting = event_accepting(event) and counts.open
    rows = []
    for listing in listings:
        allotment = await allotment_for(
            session, event, listing.platform, counts, accepting=accepting
        )
        plan = listing_plan(
            event, listing.platform, listing.platform_count, allotment, accepting=accepting
        )
        in_step = not needs_push(
            plan,
            platform=listing.platform,
            last_pushed_limit=listing.last_pushed_limit,
            remote_state=listing.remote_state,
            in_step=listing.sync_state == SyncState.IN_STEP,
        )
        rows.append(ListingRow(listing, plan, in_step))
    over = await session.execute(
        select(
            Registration.id,
            Registration.member_id,
            Registration.name,
            Registration.channel,
            Registration.created_at,
        )
        .where(
            Registration.event_id == event.id,
            Registration.status == RegistrationStatus.CONFIRMED,
            Registration.over_capacity.is_(True),
            Registration.seat_no.is_(None),
        )
        .order_by(Registration.created_at)
        .limit(50)
    )
    return Panel(
        event=event,
        counts=counts,
        live=live,
        listings=rows,
        over_capacity=[OverCapacityRow(*row) for row in over],
        ledgers=await platform_ledgers(session, event.id, listings),
    )
