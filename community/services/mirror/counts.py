"""The live counts a mirror job plans from: the Traffic Cop's, loaded from the ledger if needed."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings
from community.models import Event
from community.services.seats.inventory import Counts
from community.services.seats.ledger import accepting
from community.services.seats.refusals import EventNotFound
from community.services.seats.registrations import RegistrationService


@dataclass(frozen=True, slots=True)
class MirrorCounts:
    shared_left: int
    accepting: bool  # the event takes registrations at all (published, not over, not cancelled)
    counts: Counts | None = None  # None when the event was deleted meanwhile
    service: RegistrationService | None = None


async def live_counts(
    settings: Settings,
    redis: Redis,
    session_maker: async_sessionmaker[AsyncSession],
    event: Event,
) -> MirrorCounts:
    service = RegistrationService.build(settings, redis, session_maker)
    try:
        counts = await service.counts(event.id)
    except EventNotFound:
        # Deleted meanwhile: the listings show sold out rather than sell seats we do not track.
        return MirrorCounts(shared_left=0, accepting=False)
    return MirrorCounts(
        shared_left=counts.shared_left,
        accepting=accepting(event) and counts.open,
        counts=counts,
        service=service,
    )
