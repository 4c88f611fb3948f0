"""2,000 concurrent attempts on C = 100, R = 40: never more than 60 platform seats, never more
than 100 in all, nobody twice; also with Redis losing the event mid-run and with PostgreSQL
refusing writes for a moment."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import select

from community.models import Registration, RegistrationStatus
from community.services.seats.reconcile import Drift, reconcile_event
from community.services.seats.refusals import (
    AlreadyRegistered,
    RegistrationUnavailable,
    SoldOutError,
)
from community.services.seats.registrations import RegistrationService

CAPACITY, RESERVE, ATTEMPTS, PEOPLE, CONCURRENCY = 100, 40, 2000, 1400, 64
CHANNELS = ["native", "native", "meetup", "eventbrite", "luma"]


@dataclass
class Attempt:
    person: int
    channel: str
    outcome: str = ""
    registration_id: UUID | None = None


def plan(seed: int) -> list[Attempt]:
    """2,000 attempts by 1,400 people, some of them trying twice on different channels."""
    rng = random.Random(seed)
    attempts = [Attempt(p, rng.choice(CHANNELS)) for p in range(PEOPLE)]
    attempts += [Attempt(rng.randrange(PEOPLE), rng.choice(CHANNELS)) for _ in range(600)]
    rng.shuffle(attempts)
    return attempts


class Progress:
    """Lets a disturbance wait until the sale has confirmed n registrations."""

    def __init__(self) -> None:
        self.confirmed = 0
        self._waiting: list[tuple[int, asyncio.Event]] = []

    def confirm(self) -> None:
        self.confirmed += 1
        for n, reached in self._waiting:
            if self.confirmed >= n:
                reached.set()

    async def reach(self, n: int) -> None:
        reached = asyncio.Event()
        self._waiting.append((n, reached))
        if self.confirmed >= n:
            reached.set()
        await reached.wait()


async def attempt(
    service: RegistrationService, event_id: UUID, a: Attempt, progress: Progress
) -> None:
    email = f"person{a.person}@example.com"
    try:
        if a.channel == "native":
            reg = await service.register(event_id, name=f"Person {a.person}", email=email)
        else:
            reg = await service.register(
                event_id,
                name=f"Person {a.person}",
                email=email,
                channel=a.channel,
                platform_member_id=f"{a.channel}-{a.person}",
            )
        a.outcome, a.registration_id = reg.status, reg.registration_id
        if a.outcome == "confirmed":
            progress.confirm()
    except SoldOutError:
        a.outcome = "sold_out"
    except AlreadyRegistered:
        a.outcome = "already"
    except RegistrationUnavailable:
        a.outcome = "unavailable"


async def run_sale(
    service: RegistrationService,
    event_id: UUID,
    attempts: list[Attempt],
    disturb: Callable[[Progress], Awaitable[None]] | None = None,
) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)
    progress = Progress()

    async def one(a: Attempt) -> None:
        async with gate:
            await attempt(service, event_id, a, progress)

    jobs: list[Awaitable[None]] = [one(a) for a in attempts]
    if disturb is not None:
        jobs.append(disturb(progress))
    await asyncio.gather(*jobs)


async def check_ledger(service: RegistrationService, event_id: UUID, attempts: list[Attempt]):
    async with service.session_maker() as session:
        rows = list(
            await session.scalars(
                select(Registration).where(
                    Registration.event_id == event_id,
                    Registration.status == RegistrationStatus.CONFIRMED,
                )
            )
        )
    platform = [r for r in rows if r.channel != "native"]
    assert len(rows) == CAPACITY, "every seat is sold, none twice"
    assert len(platform) <= CAPACITY - RESERVE
    assert len(rows) - len(platform) >= RESERVE
    assert len({r.member_id for r in rows}) == len(rows), "nobody twice"
    assert len({r.email for r in rows}) == len(rows)
    seats = sorted(r.seat_no for r in rows)
    assert seats == list(range(1, CAPACITY + 1))
    # Every "confirmed" answer is in the ledger, and the ledger holds nothing else.
    answered = {a.registration_id for a in attempts if a.outcome == "confirmed"}
    assert answered == {r.id for r in rows}
    outcomes = Counter(a.outcome for a in attempts)
    assert set(outcomes) <= {"confirmed", "sold_out", "already", "unavailable"}, outcomes
    return rows, outcomes


async def check_redis_matches(service: RegistrationService, event_id: UUID) -> Drift:
    drift = await reconcile_event(service, event_id, grace_ms=0)
    again = await reconcile_event(service, event_id, grace_ms=0)
    assert not again.drifted, again.summary()
    counts = await service.counts(event_id)
    assert (counts.taken, counts.held, counts.free) == (CAPACITY, 0, 0)
    assert counts.external <= CAPACITY - RESERVE
    return drift


async def test_flash_sale_never_oversells(registrations: RegistrationService, make_event: Any):
    event = await make_event(capacity=CAPACITY, reserve=RESERVE)
    attempts = plan(seed=1)
    await run_sale(registrations, event.id, attempts)
    _, outcomes = await check_ledger(registrations, event.id, attempts)
    assert outcomes["unavailable"] == 0
    drift = await check_redis_matches(registrations, event.id)
    assert not drift.drifted, drift.summary()


async def test_flash_sale_with_redis_forgetting_the_event_mid_run(
    registrations: RegistrationService, make_event: Any
) -> None:
    event = await make_event(capacity=CAPACITY, reserve=RESERVE)
    attempts = plan(seed=2)
    keys = registrations.inventory.keys(event.id)
    wiped = 0

    async def disturb(progress: Progress) -> None:
        nonlocal wiped
        for after in (15, 55):
            await progress.reach(after)
            wiped += await registrations.inventory.redis.delete(*keys)

    await run_sale(registrations, event.id, attempts, disturb)
    assert wiped >= 2
    await check_ledger(registrations, event.id, attempts)
    await check_redis_matches(registrations, event.id)


async def test_flash_sale_with_postgres_refusing_writes_for_a_moment(
    registrations: RegistrationService, make_event: Any, refusing_writes: Any
) -> None:
    event = await make_event(capacity=CAPACITY, reserve=RESERVE)
    attempts = plan(seed=3)

    async def disturb(progress: Progress) -> None:
        await progress.reach(30)
        await refusing_writes(event.id, True)
        await asyncio.sleep(0.15)
        await refusing_writes(event.id, False)

    await run_sale(registrations, event.id, attempts, disturb)
    _, outcomes = await check_ledger(registrations, event.id, attempts)
    assert outcomes["unavailable"] > 0, "the refusal happened during the sale"
    drift = await check_redis_matches(registrations, event.id)
    # Failed requests gave their seats back themselves: nothing for reconcile to free.
    assert drift.unknown_to_ledger == 0, drift.summary()
