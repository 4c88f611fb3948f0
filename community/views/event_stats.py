"""Numbers organisers look at: seats per event, registrations over time, check-ins on the day."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from community.models import Event, Registration, RegistrationStatus
from community.views import charts


async def confirmed_by_event(session: AsyncSession, event_ids: Sequence[UUID]) -> dict[UUID, int]:
    if not event_ids:
        return {}
    rows = await session.execute(
        select(Registration.event_id, func.count())
        .where(
            Registration.event_id.in_(event_ids),
            Registration.status == RegistrationStatus.CONFIRMED,
        )
        .group_by(Registration.event_id)
    )
    return {event_id: int(count) for event_id, count in rows}


@dataclass(frozen=True)
class RegistrationChart:
    svg: str
    series: list[charts.Series]
    total: int


MIN_CHART_SPAN = timedelta(minutes=15)


async def registration_chart(session: AsyncSession, event: Event) -> RegistrationChart:
    """Places held over time per channel, from the first registration until now (or the end)."""
    rows = (
        await session.execute(
            select(
                Registration.channel,
                func.coalesce(Registration.confirmed_at, Registration.created_at),
                Registration.cancelled_at,
            ).where(
                Registration.event_id == event.id,
                # Waitlisted people never held a seat; a confirmed_at says they did at some point.
                (Registration.status == RegistrationStatus.CONFIRMED)
                | Registration.confirmed_at.is_not(None),
            )
        )
    ).all()
    changes = charts.changes_from(
        (channel, taken, left if left and left >= taken else None) for channel, taken, left in rows
    )
    if not changes:
        return RegistrationChart("", [], 0)
    now = datetime.now(UTC)
    last = event.ends_at or event.starts_at + timedelta(hours=3)
    first = changes[0].at
    # From the first registration to now, at least a quarter of an hour wide: registrations
    # that all came in a moment ago are a step at the left, not a sliver at the right edge.
    end = max(min(now, last), first + MIN_CHART_SPAN)
    start = first - (end - first) * 0.03  # a little room before the first step
    data = charts.stack(changes, start, end)
    tz = _zone(event.timezone)
    svg = charts.registrations_chart(
        data, start, end, tz=tz, title=f"People holding a place for {event.title}, by channel"
    )
    return RegistrationChart(svg, data.series, sum(s.final for s in data.series))


@dataclass(frozen=True)
class CheckinSummary:
    confirmed: int
    checked_in: int
    svg: str

    @property
    def rate(self) -> int:
        return round(100 * self.checked_in / self.confirmed) if self.confirmed else 0


async def checkin_summary(session: AsyncSession, event: Event) -> CheckinSummary:
    confirmed = int(
        await session.scalar(
            select(func.count())
            .select_from(Registration)
            .where(
                Registration.event_id == event.id,
                Registration.status == RegistrationStatus.CONFIRMED,
            )
        )
        or 0
    )
    times = list(
        await session.scalars(
            select(Registration.checked_in_at).where(
                Registration.event_id == event.id,
                Registration.status == RegistrationStatus.CONFIRMED,
                Registration.checked_in_at.is_not(None),
            )
        )
    )
    tz = _zone(event.timezone)
    svg = charts.arrivals_chart(
        charts.arrival_buckets([t for t in times if t is not None], tz=tz),
        tz=tz,
        title=f"Check-ins per quarter hour at {event.title}",
    )
    return CheckinSummary(confirmed, len(times), svg)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")
