"""The mirror: how fast a native registration reaches every platform, and what a burst costs.

Runs the three sandbox stand-ins on loopback, real SAQ workers in this process, the real
registration service (its hook enqueues the pushes) and measures, in one run:

- propagation: from a native registration to all three stand-ins showing the new limit, for
  registrations arriving one at a time (p50/p99). Baseline: the same three pushes made
  directly by the platform clients, with no queue, job or coalescing in between.
- a burst of N registrations (default 100, 25 at a time): API calls the stand-ins answered,
  pushes per listing, and the final limits. Baseline: one push per registration per listing
  (what "decrement each platform by one" would cost), counted the same way. These two phases
  use shared allocation, where every listing's limit is its count plus all the shared seats.
- sold out: natives take every seat of small events; from the last seat taken to every listing
  closed (soldout_p95_s), in strict allocation and, as the baseline, in shared allocation.
- a race: three platforms each selling 5 a second while natives register, pulled every second;
  the most places over capacity at any instant (race_peak_over_capacity), strict vs shared.
- recovery (issue 16, ``recovery_s``): every stand-in fails every call for ``--outage`` seconds
  (default 90; 429s asking for 5 s, 503s and hangs in turn) while natives keep registering;
  then the time from the faults clearing to every listing in step (its pushed limit shown on
  the platform, nothing owed). The scheduler's tick runs as in production. Baseline: the same
  listings coming into step after one registration with no fault.

It creates its own database on DATABASE_URL's server (default: the local one) and its own
Redis key prefix, and removes both afterwards. With --json the last line is one JSON object.

Load generator: in-process asyncio tasks, no HTTP to our app (stand-ins are real HTTP on
loopback). Generator, workers and stand-ins share this process and the machine's cores.

    python bench/mirror.py [--samples 30] [--burst 100] [--outage 90] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from _scratch_db import run_in_scratch_database
from redis.asyncio import Redis
from saq import Worker
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from community.config import PlatformCredentials, Settings
from community.models import Allocation, Event, EventStatus, Listing, SyncLog
from community.platforms import make_client
from community.queue import make_queues
from community.redis_client import make_redis
from community.sandbox.runner import RunningSandbox, run_sandboxes
from community.sandbox.shapes import Person, SeedEvent
from community.services.jobs import (
    enqueue_event_mirror,
    enqueue_pull,
    install_mirror,
    uninstall_mirror,
)
from community.services.mirror.clients import use_sandbox_credentials
from community.services.mirror.coalescing import Coalescer
from community.services.seats.refusals import RegistrationError
from community.services.seats.registrations import RegistrationService
from community.tasks import registry
from community.tasks.context import JobContext
from community.tasks.mirror.target import push_owed
from community.worker import CONCURRENCY, dequeue_wait_s, held_connections, load_task_modules

LOAD_GENERATOR = "in-process asyncio tasks (stand-ins on loopback HTTP, SAQ workers in-process)"
PLATFORMS = ("meetup", "eventbrite", "luma")
CAPACITY = 100_000


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


class Rig:
    def __init__(
        self,
        settings: Settings,
        redis: Redis,
        session_maker: async_sessionmaker[AsyncSession],
        running: dict[str, RunningSandbox],
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.session_maker = session_maker
        self.running = running
        self.queues = make_queues(settings, redis)
        self.service = RegistrationService.build(settings, redis, session_maker)
        self.people = 0
        self.startup: Any = None  # the workers' startup, set once they are built

    def limits(self, externals: dict[str, str]) -> dict[str, int | None]:
        return {p: self.running[p].sandbox.event_state(externals[p])["limit"] for p in PLATFORMS}

    def calls(self) -> dict[str, int]:
        return {
            p: sum(
                1
                for c in self.running[p].sandbox.log.entries()
                if not c["path"].startswith("/_sandbox")
            )
            for p in PLATFORMS
        }

    def clear_calls(self) -> None:
        for p in PLATFORMS:
            self.running[p].sandbox.log.clear()

    async def register(self, event_id: UUID) -> None:
        self.people += 1
        await self.service.register(
            event_id, name=f"Person {self.people}", email=f"p{self.people}@example.org"
        )

    async def expected_limit(self, event_id: UUID) -> int:
        return (await self.service.counts(event_id)).shared_left  # nobody on the platforms

    async def settled(self, listing_ids: list[UUID]) -> bool:
        coalescer = Coalescer(self.redis, self.settings.redis_prefix, "push")
        for listing_id in listing_ids:
            progress = await coalescer.progress(listing_id)
            if progress.pending or progress.runner_active:
                return False
        return True


async def wait_for(check: Any, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.002)
    raise TimeoutError("the stand-ins did not reach the expected state in time")


async def make_event(
    rig: Rig,
    *,
    capacity: int = CAPACITY,
    reserve: int = 0,
    allocation: Allocation = Allocation.SHARED,
) -> tuple[UUID, dict[str, str], list[UUID]]:
    starts = datetime.now(UTC) + timedelta(days=7)
    async with rig.session_maker() as session:
        event = Event(
            slug=f"bench-{secrets.token_hex(4)}",
            title="Mirror benchmark",
            starts_at=starts,
            ends_at=starts + timedelta(hours=2),
            status=EventStatus.PUBLISHED,
            capacity=capacity,
            native_reserve=reserve,
            allocation=allocation,
        )
        session.add(event)
        await session.flush()
        externals, listing_ids = {}, []
        for platform in PLATFORMS:
            externals[platform] = rig.running[platform].sandbox.seed_event(
                SeedEvent(title=event.title, starts_at=starts, waitlist=False)
            )
            listing = Listing(event_id=event.id, platform=platform, external_id=externals[platform])
            session.add(listing)
            await session.flush()
            listing_ids.append(listing.id)
        await session.commit()
        return event.id, externals, listing_ids


async def propagation(
    rig: Rig, event_id: UUID, externals: dict[str, str], samples: int
) -> list[float]:
    latencies = []
    for _ in range(samples):
        started = time.perf_counter()
        await rig.register(event_id)
        want = await rig.expected_limit(event_id)
        await wait_for(lambda w=want: all(v == w for v in rig.limits(externals).values()))
        latencies.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.5)  # one at a time: each change is the only one in flight
    return latencies


async def direct_pushes(rig: Rig, externals: dict[str, str], samples: int) -> list[float]:
    """Baseline: the three platform calls alone, made at once by fresh clients."""
    latencies = []
    for i in range(samples):
        clients = [
            make_client(
                p,
                rig.running[p].base_url,
                rig.running[p].credentials.get("access_token")
                or rig.running[p].credentials["api_key"],
            )
            for p in PLATFORMS
        ]
        started = time.perf_counter()
        await asyncio.gather(
            *(
                c.set_limit(externals[p], CAPACITY - i)
                for c, p in zip(clients, PLATFORMS, strict=True)
            )
        )
        latencies.append((time.perf_counter() - started) * 1000)
        await asyncio.gather(*(c.aclose() for c in clients))
    return latencies


async def burst(
    rig: Rig, event_id: UUID, externals: dict[str, str], listing_ids: list[UUID], size: int
) -> dict[str, Any]:
    rig.clear_calls()
    async with rig.session_maker() as session:
        pushes_before = await session.scalar(
            select(func.count()).where(SyncLog.event_id == event_id, SyncLog.direction == "push")
        )
    started = time.perf_counter()
    for start in range(0, size, 25):
        await asyncio.gather(*(rig.register(event_id) for _ in range(min(25, size - start))))
    registered_s = time.perf_counter() - started
    want = await rig.expected_limit(event_id)
    await wait_for(lambda: all(v == want for v in rig.limits(externals).values()))
    shown_s = time.perf_counter() - started
    await wait_for(lambda: rig.settled(listing_ids))
    async with rig.session_maker() as session:
        pushes = await session.scalar(
            select(func.count()).where(SyncLog.event_id == event_id, SyncLog.direction == "push")
        )
    calls = rig.calls()
    return {
        "calls": calls,
        "pushes": int(pushes or 0) - int(pushes_before or 0),
        "registered_s": registered_s,
        "last_limit_shown_s": shown_s,
        "final_limits_right": all(v == want for v in rig.limits(externals).values()),
    }


async def naive_burst(rig: Rig, externals: dict[str, str], size: int) -> dict[str, int]:
    """Baseline: one push per registration per listing, nothing coalesced."""
    rig.clear_calls()
    clients = {
        p: make_client(
            p,
            rig.running[p].base_url,
            rig.running[p].credentials.get("access_token") or rig.running[p].credentials["api_key"],
        )
        for p in PLATFORMS
    }
    try:
        for i in range(size):
            await asyncio.gather(
                *(clients[p].set_limit(externals[p], CAPACITY - 1000 - i) for p in PLATFORMS)
            )
    finally:
        await asyncio.gather(*(c.aclose() for c in clients.values()))
    return rig.calls()


# --- seats across platforms: sold out, and a race of three platforms with natives -----------


def going(rig: Rig, externals: dict[str, str], platform: str) -> int:
    state = rig.running[platform].sandbox.event_state(externals[platform])
    if platform == "eventbrite":
        return sum(tc["sold"] for tc in state["ticket_classes"])
    return int(state["going"])


def all_closed(rig: Rig, externals: dict[str, str]) -> bool:
    return all(not rig.running[p].sandbox.event_state(externals[p])["open"] for p in PLATFORMS)


async def mirrored(rig: Rig, event_id: UUID, externals: dict[str, str]) -> None:
    await enqueue_event_mirror(
        rig.settings, rig.redis, rig.queues, rig.session_maker, event_id, urgent=True
    )
    await wait_for(lambda: all(v is not None for v in rig.limits(externals).values()))


async def sold_out_once(rig: Rig, allocation: Allocation) -> tuple[float, int]:
    """Natives take every seat of a small event; seconds from the last seat taken to every
    listing closed (negative: they were closed before it), and refusals met on the way."""
    event_id, externals, _ = await make_event(rig, capacity=20, allocation=allocation)
    await mirrored(rig, event_id, externals)
    refused = 0
    while True:
        try:
            await rig.register(event_id)
        except RegistrationError:
            refused += 1
            await asyncio.sleep(0.01)
        if (await rig.service.counts(event_id)).native_left <= 0:
            break
    last_seat = time.perf_counter()
    closed_at = last_seat
    if not all_closed(rig, externals):
        await wait_for(lambda: all_closed(rig, externals))
        closed_at = time.perf_counter()
    return closed_at - last_seat, refused


async def race_once(rig: Rig, allocation: Allocation, seconds: float) -> dict[str, int]:
    """Three platforms each selling 5 a second while natives register; we learn of platform
    sales by pulling every second. Places are checked continuously against the capacity."""
    capacity = 60
    event_id, externals, listing_ids = await make_event(
        rig, capacity=capacity, reserve=20, allocation=allocation
    )
    await mirrored(rig, event_id, externals)
    stop = asyncio.Event()

    async def sell(platform: str) -> None:
        sandbox = rig.running[platform].sandbox
        for i in range(100_000):
            if stop.is_set():
                return
            who = Person(f"{platform} {i}", email=f"{platform}{i}@example.org", member_id=f"8{i}")
            sandbox.add_registration(externals[platform], who)
            await asyncio.sleep(0.2)

    async def natives() -> None:
        while not stop.is_set():
            with contextlib.suppress(RegistrationError):
                await rig.register(event_id)
            await asyncio.sleep(0.1)

    async def poll() -> None:
        while not stop.is_set():
            for listing_id in listing_ids:
                await enqueue_pull(rig.settings, rig.redis, rig.queues, listing_id)
            await asyncio.sleep(1.0)

    workers = [asyncio.create_task(sell(p)) for p in PLATFORMS]
    workers += [asyncio.create_task(natives()), asyncio.create_task(poll())]
    peak, started = 0, time.monotonic()
    try:
        while time.monotonic() - started < seconds:
            native = (await rig.service.counts(event_id)).native
            peak = max(peak, native + sum(going(rig, externals, p) for p in PLATFORMS))
            if peak >= capacity and all_closed(rig, externals):
                break
            await asyncio.sleep(0.005)
    finally:
        stop.set()
        await asyncio.gather(*workers, return_exceptions=True)
    return {"peak_places": peak, "capacity": capacity, "over": max(0, peak - capacity)}


async def seats_across_platforms(rig: Rig, rounds: int) -> dict[str, Any]:
    soldout: dict[Allocation, list[tuple[float, int]]] = {}
    race: dict[Allocation, list[dict[str, int]]] = {}
    for a in Allocation:
        await fresh_call_budgets(rig)
        soldout[a] = [await sold_out_once(rig, a) for _ in range(rounds)]
    for a in Allocation:
        race[a] = []
        for _ in range(max(1, rounds // 4)):
            await fresh_call_budgets(rig)
            race[a].append(await race_once(rig, a, 30.0))
    return {"soldout": soldout, "race": race}


# --- recovery after a total outage (issue 16, point 5) -----------------------------------------

RECOVERY_RATE_WAIT_S = 5  # what the outage's 429s ask for


async def in_step(rig: Rig, listing_ids: list[UUID], externals: dict[str, str]) -> bool:
    """Every listing shows what we last pushed, is marked in step and owes no push."""
    ctx = {"settings": rig.settings, "redis": rig.redis, "session_maker": rig.session_maker}
    limits = rig.limits(externals)
    async with rig.session_maker() as session:
        rows = [await session.get(Listing, lid) for lid in listing_ids]
    for row in rows:
        if row is None or row.sync_state != "in_step":
            return False
        if limits[row.platform] != row.last_pushed_limit:
            return False
        if await push_owed(ctx, row.id):
            return False
    return await rig.settled(listing_ids)


async def fresh_call_budgets(rig: Rig) -> None:
    """Start a phase with each account's call budget full, as if it ran an hour after the last.

    Every phase uses the same three accounts, and the race alone (5 sales a second per
    platform, pulled every second) spends Eventbrite's 2,000 calls an hour for a while: left
    as it was, the next phase would measure that refill (0.4 calls/s), not the mirror."""
    async for key in rig.redis.scan_iter(match=f"{rig.settings.redis_prefix}budget:*"):
        await rig.redis.delete(key)


async def recovery_phase(rig: Rig, outage_s: int) -> dict[str, Any]:
    """Seconds from the faults clearing to every listing in step, after ``outage_s`` of
    total failure; and the same with no fault, as the baseline."""
    await fresh_call_budgets(rig)
    scheduler = Worker(
        rig.queues["default"],
        functions=list(registry.TASKS.values()),
        cron_jobs=registry.CRON_JOBS,
        startup=rig.startup,
        concurrency=4,
        dequeue_timeout=dequeue_wait_s(rig.settings),
    )
    scheduler.SIGNALS = []
    ticking = asyncio.create_task(scheduler.start())
    try:
        # No native reserve: every native registration moves every listing's target.
        event_id, externals, listing_ids = await make_event(rig, capacity=200, reserve=0)
        await enqueue_event_mirror(
            rig.settings, rig.redis, rig.queues, rig.session_maker, event_id, urgent=True
        )
        await wait_for(lambda: in_step(rig, listing_ids, externals), within=60)
        started = time.monotonic()
        await rig.register(event_id)
        await wait_for(lambda: in_step(rig, listing_ids, externals), within=60)
        baseline_s = time.monotonic() - started

        for p in PLATFORMS:
            rig.running[p].sandbox.faults.outage(
                outage_s, ("429", "5xx", "hang"), rate_limit_wait_s=RECOVERY_RATE_WAIT_S
            )
        cleared = time.monotonic() + outage_s
        registered, in_error, next_native = 0, 0, time.monotonic()
        while time.monotonic() < cleared:
            if time.monotonic() >= next_native and time.monotonic() < cleared - 1:
                await rig.register(event_id)  # natives keep coming during the outage
                registered += 1
                next_native += outage_s / 10
            async with rig.session_maker() as session:
                rows = [await session.get(Listing, lid) for lid in listing_ids]
            shown = sum(1 for r in rows if r is not None and r.sync_state == "error")
            in_error = max(in_error, shown)
            await asyncio.sleep(min(0.5, max(0.0, cleared - time.monotonic())))
        await wait_for(lambda: in_step(rig, listing_ids, externals), within=600)
        recovery_s = time.monotonic() - cleared
    finally:
        for p in PLATFORMS:
            rig.running[p].sandbox.faults.clear()
        await scheduler.stop()
        ticking.cancel()
        await asyncio.gather(ticking, return_exceptions=True)
    return {
        "recovery_s": recovery_s,
        "baseline_s": baseline_s,
        "registered_during": registered,
        "in_error_during": in_error,
    }


async def bench(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    assert settings.database_url and settings.redis_url
    load_task_modules()
    engine = create_async_engine(settings.database_url, pool_size=20, max_overflow=10)
    session_maker = async_sessionmaker(engine, expire_on_commit=False)
    # The product's client (bounded pool, socket timeout), with room for the consumers' waits.
    redis = make_redis(settings, extra_connections=held_connections() + 8)
    async with run_sandboxes() as running:
        for platform, sandbox in running.items():
            use_sandbox_credentials(platform, sandbox.credentials)
            sandbox.sandbox.budget.configure(10_000_000, 60.0)  # measure us, not their limits
        settings = replace(
            settings,
            platform_mode="sandbox",
            **{
                p: PlatformCredentials(api_url=running[p].base_url, auth_url=running[p].base_url)
                for p in PLATFORMS
            },
        )
        rig = Rig(settings, redis, session_maker, running)

        async def startup(ctx: JobContext) -> None:
            ctx["settings"], ctx["redis"] = settings, redis
            ctx["session_maker"], ctx["queues"] = session_maker, rig.queues

        rig.startup = startup

        workers = [
            Worker(
                queue,
                functions=list(registry.TASKS.values()),
                startup=startup,
                concurrency=CONCURRENCY,
                dequeue_timeout=dequeue_wait_s(settings),
            )
            for queue in rig.queues.values()
        ]
        for worker in workers:
            worker.SIGNALS = []
        listener = install_mirror(settings, redis, rig.queues, session_maker)
        tasks = [asyncio.create_task(w.start()) for w in workers]
        try:
            event_id, externals, listing_ids = await make_event(rig)
            await enqueue_event_mirror(
                settings, redis, rig.queues, session_maker, event_id, urgent=True
            )
            await wait_for(lambda: all(v == CAPACITY for v in rig.limits(externals).values()))
            await wait_for(lambda: rig.settled(listing_ids))
            latencies = await propagation(rig, event_id, externals, args.samples)
            burst_figures = await burst(rig, event_id, externals, listing_ids, args.burst)
            direct = await direct_pushes(rig, externals, args.samples)
            naive_calls = await naive_burst(rig, externals, args.burst)
            seats = await seats_across_platforms(rig, args.rounds)
            recovery = await recovery_phase(rig, args.outage)
        finally:
            uninstall_mirror(listener)
            await asyncio.gather(*(w.stop() for w in workers), return_exceptions=True)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            async for key in redis.scan_iter(match=f"*{settings.redis_prefix}*", count=500):
                await redis.delete(key)
            await redis.aclose()
            await engine.dispose()

    calls = burst_figures["calls"]
    total_calls = sum(calls.values())
    naive_total = sum(naive_calls.values())
    print(f"Mirror to Meetup, Eventbrite and Luma stand-ins; load generator: {LOAD_GENERATOR}")
    print(
        f"Propagation, native registration -> all 3 platforms show the new limit "
        f"({args.samples} one at a time): p50 {percentile(latencies, 0.5):.1f} ms, "
        f"p99 {percentile(latencies, 0.99):.1f} ms, max {max(latencies):.1f} ms"
    )
    print(
        f"  baseline, the 3 pushes made directly (no queue, no job): "
        f"p50 {percentile(direct, 0.5):.1f} ms, p99 {percentile(direct, 0.99):.1f} ms"
    )
    print(
        f"Burst of {args.burst} registrations ({burst_figures['registered_s']:.2f} s to register, "
        f"last limit shown after {burst_figures['last_limit_shown_s']:.2f} s): "
        f"{total_calls} API calls {calls}, {burst_figures['pushes']} pushes over 3 listings, "
        f"final limits right: {burst_figures['final_limits_right']}"
    )
    print(
        f"  baseline, one push per registration per listing: {naive_total} API calls "
        f"{naive_calls} ({naive_total / max(1, total_calls):.0f}x)"
    )
    soldout_s = {a: [s for s, _ in seats["soldout"][a]] for a in Allocation}
    refused = {a: sum(r for _, r in seats["soldout"][a]) for a in Allocation}
    race_over = {a: max(r["over"] for r in seats["race"][a]) for a in Allocation}
    race_peak = {a: max(r["peak_places"] for r in seats["race"][a]) for a in Allocation}
    for a in Allocation:
        print(
            f"Sold out, {a} allocation ({args.rounds} events of 20 seats sold natively): last seat "
            f"-> every listing closed p95 {percentile(soldout_s[a], 0.95):.3f} s "
            f"(negative: closed before the last seat); natives refused on the way: {refused[a]}"
        )
        print(
            f"Race, {a} allocation (3 platforms x 5/s + natives, C=60, R=20, pulled every 1 s): "
            f"peak places {race_peak[a]} / 60, over capacity {race_over[a]}"
        )
    print(
        f"Recovery after a {args.outage} s total outage of all three stand-ins (429 asking "
        f"{RECOVERY_RATE_WAIT_S} s / 503 / hang in turn; {recovery['registered_during']} "
        f"natives registered meanwhile, at most {recovery['in_error_during']}/3 listings showing "
        f"their error at once): every listing in step {recovery['recovery_s']:.1f} s after the "
        f"faults cleared (target < 30 s)"
    )
    print(
        f"  baseline, the same listings in step after one registration with no fault: "
        f"{recovery['baseline_s']:.2f} s"
    )
    return {
        "soldout_p95_s": round(max(0.0, percentile(soldout_s[Allocation.STRICT], 0.95)), 3),
        "soldout_p95_s_shared": round(max(0.0, percentile(soldout_s[Allocation.SHARED], 0.95)), 3),
        "race_peak_over_capacity": race_over[Allocation.STRICT],
        "race_peak_over_capacity_shared": race_over[Allocation.SHARED],
        "natives_refused_while_promised": refused[Allocation.STRICT],
        "samples": args.samples,
        "burst": args.burst,
        "load_generator": LOAD_GENERATOR,
        "propagation_p50_ms": round(percentile(latencies, 0.5), 1),
        "propagation_p99_ms": round(percentile(latencies, 0.99), 1),
        "propagation_max_ms": round(max(latencies), 1),
        "direct_push_p50_ms": round(percentile(direct, 0.5), 1),
        "direct_push_p99_ms": round(percentile(direct, 0.99), 1),
        "calls_per_100_registrations": round(total_calls * 100 / args.burst, 1),
        "calls_by_platform": calls,
        "pushes_in_burst": burst_figures["pushes"],
        "burst_last_limit_shown_s": round(burst_figures["last_limit_shown_s"], 3),
        "baseline_calls_per_100_registrations": round(naive_total * 100 / args.burst, 1),
        "final_limits_right": burst_figures["final_limits_right"],
        "recovery_s": round(recovery["recovery_s"], 2),
        "recovery_outage_s": args.outage,
        "recovery_baseline_s": round(recovery["baseline_s"], 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=30, help="one-at-a-time registrations")
    parser.add_argument("--burst", type=int, default=100, help="registrations in the burst")
    parser.add_argument("--rounds", type=int, default=8, help="sold-out events per allocation")
    parser.add_argument("--outage", type=int, default=90, help="seconds of total outage")
    parser.add_argument("--json", action="store_true", help="end with one line of JSON figures")
    args = parser.parse_args()
    if args.samples < 1 or args.burst < 1 or args.outage < 1:
        parser.error("samples, burst and outage must be at least 1")

    figures = run_in_scratch_database("mirror", lambda settings: bench(settings, args))
    if args.json:
        print(json.dumps(figures))
    return 0 if figures["final_limits_right"] else 1


if __name__ == "__main__":
    sys.exit(main())
