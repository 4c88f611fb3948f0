"""Reconciliation: compare Redis with the ledger, rebuild Redis where they differ, report it.

Runs on demand (`community reconcile`) and on a schedule (tasks.inventory). Under the event's
rebuild lock it reads both sides, counts the differences, and reloads Redis from PostgreSQL
when there are any. Places younger than the grace period are requests still on their way to
the ledger: they are reported as in flight and kept. Open holds live in Redis only and are
kept too. A seat left taken by a request that failed (and could not give it back) is older
than the grace period and absent from the ledger: it is reported and freed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from community.config import Settings
from community.models import Channel, Event, EventStatus
from community.redis_client import make_redis
from community.services.seats.inventory import (
    DEFAULT_KEEP_RECENT_MS,
    InventoryState,
    NotLoaded,
    PlaceState,
    Snapshot,
)
from community.services.seats.ledger import OPEN_AFTER_START
from community.services.seats.registrations import RegistrationService

log = logging.getLogger("community.reconcile")

# Ended events stop being reconciled on schedule after this long.
KEEP_RECONCILING_AFTER_END = timedelta(days=2)


@dataclass(frozen=True)
class Drift:
    event_id: UUID
    was_loaded: bool
    ledger_places: int = 0
    missing_in_redis: int = 0  # the ledger has them, Redis did not
    unknown_to_ledger: int = 0  # Redis had them, older than the grace, the ledger does not
    seat_differences: int = 0  # same person, another seat or state
    settings_differ: bool = False
    in_flight: int = 0  # younger than the grace: kept
    open_holds: int = 0  # kept
    rebuilt: bool = False
    promoted: int = 0
    removed: bool = False  # the event is gone from the ledger; its Redis state was dropped

    @property
    def drifted(self) -> bool:
        return bool(
            self.missing_in_redis
            or self.unknown_to_ledger
            or self.seat_differences
            or self.settings_differ
        )

    def summary(self) -> str:
        if self.removed:
            return f"event {self.event_id}: no longer in the database; its seat state was dropped"
        if not self.was_loaded:
            return (
                f"event {self.event_id}: not in Redis; loaded {self.ledger_places} place(s) "
                "from the database"
            )
        extra = []
        if self.in_flight:
            extra.append(f"{self.in_flight} in flight")
        if self.open_holds:
            extra.append(f"{self.open_holds} open hold(s)")
        if self.promoted:
            extra.append(f"{self.promoted} promoted from the waitlist")
        tail = f" ({', '.join(extra)})" if extra else ""
        if not self.drifted:
            return f"event {self.event_id}: in step, {self.ledger_places} place(s){tail}"
        parts = [
            f"{self.missing_in_redis} missing in Redis",
            f"{self.unknown_to_ledger} unknown to the database",
            f"{self.seat_differences} seat(s) differ",
        ]
        if self.settings_differ:
            parts.append("capacity/reserve/mode differed")
        return f"event {self.event_id}: drift: {', '.join(parts)}; rebuilt{tail}"


def compare(
    event_id: UUID, state: InventoryState | NotLoaded, snapshot: Snapshot, grace_ms: int
) -> Drift:
    if isinstance(state, NotLoaded):
        return Drift(
            event_id,
            was_loaded=False,
            ledger_places=len(snapshot.entries),
            missing_in_redis=len(snapshot.entries),
        )
    by_key = {key: place for place in state.places for key in place.keys}
    matched: set[str] = set()
    missing = differing = 0
    for entry in snapshot.entries:
        place = next((by_key[k] for k in entry.keys if k in by_key), None)
        if place is None:
            missing += 1
            continue
        matched.add(place.entry)
        if (place.state, place.seat_no) != (entry.state, entry.seat_no):
            differing += 1
    holds = in_flight = unknown = 0
    for place in state.places:
        if place.entry in matched:
            continue
        if place.state == PlaceState.HELD:
            holds += 1
        elif grace_ms >= 0 and place.since_ms >= state.now_ms - grace_ms:
            in_flight += 1
        else:
            unknown += 1
    wanted, have = snapshot.settings, state.counts
    settings_differ = (
        have.capacity,
        have.reserve,
        have.mode,
        have.open,
        have.closes_at_ms,
    ) != (wanted.capacity, wanted.reserve, wanted.mode, wanted.open, wanted.closes_at_ms)
    return Drift(
        event_id,
        was_loaded=True,
        ledger_places=len(snapshot.entries),
        missing_in_redis=missing,
        unknown_to_ledger=unknown,
        seat_differences=differing,
        settings_differ=settings_differ,
        in_flight=in_flight,
        open_holds=holds,
    )


async def reconcile_event(
    service: RegistrationService, event_id: UUID, *, grace_ms: int = DEFAULT_KEEP_RECENT_MS
) -> Drift:
    """Bring one event's Redis state in step with the ledger; report what differed."""
    inventory = service.inventory
    async with inventory.locked(event_id) as token:
        state = await inventory.dump(event_id)
        snapshot = await service.snapshot(event_id)
        if snapshot is None:
            await inventory.forget(event_id)
            return Drift(event_id, was_loaded=not isinstance(state, NotLoaded), removed=True)
        drift = compare(event_id, state, snapshot, grace_ms)
        rebuilt = False
        if drift.drifted:
            rebuilt = await inventory.load(
                event_id, snapshot, lock_token=token, keep_recent_ms=grace_ms
            )
    promoted = await service.promote_waitlist(event_id)
    if rebuilt and not promoted:
        await service.hooks.fire(event_id, Channel.NATIVE)
    drift = replace(drift, rebuilt=rebuilt, promoted=len(promoted))
    if drift.drifted:
        log.warning(
            "inventory drift",
            extra={
                "event_id": str(event_id),
                "missing_in_redis": drift.missing_in_redis,
                "unknown_to_ledger": drift.unknown_to_ledger,
                "seat_differences": drift.seat_differences,
                "settings_differ": drift.settings_differ,
            },
        )
    return drift


async def events_to_reconcile(service: RegistrationService) -> list[UUID]:
    """Published events that have not long ended."""
    now = datetime.now(UTC)
    horizon = now - KEEP_RECONCILING_AFTER_END
    async with service.session_maker() as session:
        rows = await session.scalars(
            select(Event.id)
            .where(
                Event.status == EventStatus.PUBLISHED,
                Event.deleted_at.is_(None),
                or_(
                    Event.ends_at > horizon,
                    Event.ends_at.is_(None) & (Event.starts_at > horizon - OPEN_AFTER_START),
                ),
            )
            .order_by(Event.starts_at)
        )
        return list(rows)


async def reconcile_all(
    service: RegistrationService, *, grace_ms: int = DEFAULT_KEEP_RECENT_MS
) -> list[Drift]:
    return [
        await reconcile_event(service, event_id, grace_ms=grace_ms)
        for event_id in await events_to_reconcile(service)
    ]


async def run_reconcile(
    settings: Settings, *, event_id: UUID | None = None, grace_s: float = 5.0
) -> int:
    """The `community reconcile` command: print one line per event and a total."""
    assert settings.database_url
    engine = create_async_engine(settings.database_url, pool_size=2, max_overflow=2)
    redis = make_redis(settings)
    service = RegistrationService.build(
        settings, redis, async_sessionmaker(engine, expire_on_commit=False)
    )
    grace_ms = int(grace_s * 1000)
    try:
        if event_id is not None:
            drifts = [await reconcile_event(service, event_id, grace_ms=grace_ms)]
        else:
            drifts = await reconcile_all(service, grace_ms=grace_ms)
    finally:
        await redis.aclose()
        await engine.dispose()
    for drift in drifts:
        print(drift.summary())
    drifted = sum(1 for d in drifts if d.drifted and d.was_loaded)
    print(f"Reconciled {len(drifts)} event(s); {drifted} had drifted and were rebuilt.")
    return 0
