"""The live counts a mirror job plans from: the Traffic Cop's, else the ledger's.

Redis holds the exact live counts (holds included). When it has no state for the event (a
restart, an event nobody has touched yet) the job does not wait for the Traffic Cop to be
rebuilt: the same numbers follow from the ledger, seats taken in PostgreSQL, minus the
short-lived holds that only Redis knows about.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from community.models import Channel, Event, EventStatus, Registration, RegistrationStatus
from community.services.inventory import Counts, Inventory, NotLoaded


async def ledger_counts(session: AsyncSession, event: Event) -> Counts:
    rows = await session.execute(
        select(
            Registration.channel,
            Registration.status,
            Registration.over_capacity,
            func.count(),
        )
        .where(
            Registration.event_id == event.id,
            Registration.status.in_([RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED]),
        )
        .group_by(Registration.channel, Registration.status, Registration.over_capacity)
    )
    native = external = over = waiting = 0
    per_channel = {c.value: 0 for c in Channel}
    for channel, status, over_capacity, count in rows:
        if status == RegistrationStatus.WAITLISTED:
            waiting += count
        elif over_capacity:
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
        mode=event.soldout_mode,  # type: ignore[arg-type]
        open=event.status == EventStatus.PUBLISHED,
        native=native,
        external=external,
        held=0,
        over_capacity=over,
        waiting=waiting,
        free=max(0, event.capacity - native - external),
        per_channel=per_channel,
    )


async def live_counts(ctx: dict[str, Any], session: AsyncSession, event: Event) -> Counts:
    inventory = Inventory(ctx["redis"], ctx["settings"].redis_prefix)
    counts = await inventory.counts(event.id)
    if isinstance(counts, NotLoaded):
        return await ledger_counts(session, event)
    return counts
