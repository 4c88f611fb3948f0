"""Flash sale: N attempts (default 5,000) for 100 seats, in one run, at the same concurrency:

- Traffic Cop: the real registration service. Redis decides in one Lua call; only a success
  touches PostgreSQL (member + registration insert). "Sold out" never reaches the database.
- Row-lock baseline: every attempt locks the event row (SELECT ... FOR UPDATE), counts the
  confirmed registrations, and inserts (member + registration) when a seat is left.

Prints attempts/s, p50/p99 latency and the oversold count of each; with --json the last line
is one JSON object of those figures. It creates its own database on DATABASE_URL's server
(default: the local one), its own Redis key prefix, and removes both afterwards.

Load generator: in-process asyncio tasks bounded by a semaphore, no HTTP. The generator shares
the process, the event loop and the machine's cores with the code under test.

    python bench/traffic_cop.py [--attempts 5000] [--seats 100] [--concurrency 64] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from _scratch_db import run_in_scratch_database
from redis.asyncio import Redis
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from community.config import Settings
from community.models import Event, EventStatus, Registration, RegistrationStatus
from community.services.people.members import resolve_member
from community.services.seats.hooks import InventoryHooks
from community.services.seats.ledger_writes import new_ticket_token
from community.services.seats.refusals import AlreadyRegistered, SoldOutError
from community.services.seats.registrations import RegistrationService

LOAD_GENERATOR = "in-process asyncio tasks, no HTTP"


@dataclass
class Result:
    name: str
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    refusal_latencies_ms: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    confirmed_in_ledger: int = 0
    oversold: int = 0

    @property
    def attempts_per_s(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    def percentile(self, q: float, *, refusals: bool = False) -> float:
        ordered = sorted(self.refusal_latencies_ms if refusals else self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def people(n: int, run: str) -> list[tuple[str, str]]:
    return [(f"Person {i}", f"p{i}.{run}@example.com") for i in range(n)]


async def run_sale(
    name: str,
    attempt: Callable[[str, str], Awaitable[str]],
    crowd: list[tuple[str, str]],
    concurrency: int,
) -> Result:
    result = Result(name)
    gate = asyncio.Semaphore(concurrency)

    async def one(person: str, email: str) -> None:
        async with gate:
            started = time.perf_counter()
            try:
                outcome = await attempt(person, email)
            except Exception as exc:  # a failed attempt is a figure too, not a crash
                outcome = f"error:{type(exc).__name__}"
            elapsed_ms = (time.perf_counter() - started) * 1000
            result.latencies_ms.append(elapsed_ms)
            if outcome == "sold_out":
                result.refusal_latencies_ms.append(elapsed_ms)
            result.outcomes[outcome] += 1

    started = time.perf_counter()
    await asyncio.gather(*(one(p, e) for p, e in crowd))
    result.seconds = time.perf_counter() - started
    return result


def traffic_cop(
    service: RegistrationService, event_id: UUID
) -> Callable[[str, str], Awaitable[str]]:
    async def attempt(person: str, email: str) -> str:
        try:
            await service.register(event_id, name=person, email=email)
        except SoldOutError:
            return "sold_out"
        except AlreadyRegistered:
            return "already"
        return "confirmed"

    return attempt


def row_lock(
    session_maker: async_sessionmaker[AsyncSession], event_id: UUID
) -> Callable[[str, str], Awaitable[str]]:
    async def attempt(person: str, email: str) -> str:
        async with session_maker() as session, session.begin():
            capacity = await session.scalar(
                select(Event.capacity).where(Event.id == event_id).with_for_update()
            )
            taken = int(
                await session.scalar(
                    select(func.count())
                    .select_from(Registration)
                    .where(
                        Registration.event_id == event_id,
                        Registration.status == RegistrationStatus.CONFIRMED,
                    )
                )
                or 0
            )
            if capacity is None or taken >= capacity:
                return "sold_out"
            member = await resolve_member(session, name=person, email=email)
            session.add(
                Registration(
                    event_id=event_id,
                    member_id=member.id,
                    channel="native",
                    status=RegistrationStatus.CONFIRMED,
                    seat_no=taken + 1,
                    ticket_token=new_ticket_token(),
                    name=person,
                    email=email,
                    confirmed_at=datetime.now(UTC),
                )
            )
        return "confirmed"

    return attempt


async def make_event(session_maker: async_sessionmaker[AsyncSession], seats: int, tag: str) -> UUID:
    event = Event(
        slug=f"flash-sale-{tag}-{secrets.token_hex(3)}",
        title=f"Flash sale ({tag})",
        starts_at=datetime.now(UTC) + timedelta(days=7),
        capacity=seats,
        native_reserve=0,
        status=EventStatus.PUBLISHED,
        venue_name="Bench hall",
    )
    async with session_maker() as session, session.begin():
        session.add(event)
    return event.id


async def audit(
    session_maker: async_sessionmaker[AsyncSession], event_id: UUID, seats: int
) -> tuple[int, int]:
    """Confirmed registrations in the ledger, and how many of them are beyond the capacity."""
    async with session_maker() as session:
        rows = (
            await session.execute(
                select(Registration.seat_no, Registration.member_id).where(
                    Registration.event_id == event_id,
                    Registration.status == RegistrationStatus.CONFIRMED,
                )
            )
        ).all()
    duplicates = (len(rows) - len({s for s, _ in rows})) + (len(rows) - len({m for _, m in rows}))
    return len(rows), max(0, len(rows) - seats) + duplicates


async def warm(session_maker: async_sessionmaker[AsyncSession], connections: int) -> None:
    async def ping() -> None:
        async with session_maker() as session:
            await session.execute(text("SELECT 1"))
            await asyncio.sleep(0.01)

    await asyncio.gather(*(ping() for _ in range(connections)))


async def bench(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    assert settings.database_url and settings.redis_url
    engine = create_async_engine(settings.database_url, pool_size=args.pool, max_overflow=0)
    session_maker = async_sessionmaker(engine, expire_on_commit=False)
    redis = Redis.from_url(settings.redis_url)
    service = RegistrationService.build(settings, redis, session_maker, hooks=InventoryHooks())
    try:
        cop_event = await make_event(session_maker, args.seats, "cop")
        lock_event = await make_event(session_maker, args.seats, "rowlock")
        await warm(session_maker, args.pool)
        await service.counts(cop_event)  # Redis loaded from the ledger, as after a start

        cop = await run_sale(
            "Traffic Cop (Redis gate + INSERT)",
            traffic_cop(service, cop_event),
            people(args.attempts, "cop"),
            args.concurrency,
        )
        await warm(session_maker, args.pool)
        lock = await run_sale(
            "Row lock (FOR UPDATE + count + INSERT)",
            row_lock(session_maker, lock_event),
            people(args.attempts, "lock"),
            args.concurrency,
        )
        for result, event_id in ((cop, cop_event), (lock, lock_event)):
            result.confirmed_in_ledger, result.oversold = await audit(
                session_maker, event_id, args.seats
            )
    finally:
        async for key in redis.scan_iter(match=f"{settings.redis_prefix}*", count=500):
            await redis.delete(key)
        await redis.aclose()
        await engine.dispose()

    print(
        f"Flash sale: {args.attempts:,} attempts for {args.seats} seats, concurrency "
        f"{args.concurrency}, pool {args.pool}; load generator: {LOAD_GENERATOR}"
    )
    print(
        f"{'':40} {'attempts/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'seats sold':>10} {'oversold':>9}"
    )
    for r in (cop, lock):
        print(
            f"{r.name:40} {r.attempts_per_s:>11,.0f} {r.percentile(0.5):>8.2f} "
            f"{r.percentile(0.99):>8.2f} {r.confirmed_in_ledger:>10} {r.oversold:>9}"
        )
        print(
            f"{'':40} sold out answered in p50 {r.percentile(0.5, refusals=True):.2f} ms, "
            f"p99 {r.percentile(0.99, refusals=True):.2f} ms"
        )
        others = {k: v for k, v in r.outcomes.items() if k not in ("confirmed", "sold_out")}
        if others:
            print(f"{'':40} other outcomes: {dict(others)}")
    speedup = cop.attempts_per_s / lock.attempts_per_s if lock.attempts_per_s else 0.0
    print(f"Traffic Cop / row lock: {speedup:.1f}x the attempts per second")
    return {
        "attempts": args.attempts,
        "seats": args.seats,
        "concurrency": args.concurrency,
        "load_generator": LOAD_GENERATOR,
        "cop_attempts_per_s": round(cop.attempts_per_s, 1),
        "rowlock_attempts_per_s": round(lock.attempts_per_s, 1),
        "cop_p50_ms": round(cop.percentile(0.5), 3),
        "cop_p99_ms": round(cop.percentile(0.99), 3),
        "rowlock_p50_ms": round(lock.percentile(0.5), 3),
        "rowlock_p99_ms": round(lock.percentile(0.99), 3),
        "cop_sold_out_p99_ms": round(cop.percentile(0.99, refusals=True), 3),
        "rowlock_sold_out_p99_ms": round(lock.percentile(0.99, refusals=True), 3),
        "cop_sold": cop.confirmed_in_ledger,
        "rowlock_sold": lock.confirmed_in_ledger,
        "oversold": cop.oversold + lock.oversold,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attempts", type=int, default=5000)
    parser.add_argument("--seats", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--pool", type=int, default=20, help="PostgreSQL connections (both sides)")
    parser.add_argument("--json", action="store_true", help="end with one line of JSON figures")
    args = parser.parse_args()
    if args.attempts < 1 or args.seats < 1 or args.concurrency < 1 or args.pool < 1:
        parser.error("attempts, seats, concurrency and pool must be at least 1")

    figures = run_in_scratch_database("traffic_cop", lambda settings: bench(settings, args))
    if args.json:
        print(json.dumps(figures))
    return 1 if figures["oversold"] else 0


if __name__ == "__main__":
    sys.exit(main())
