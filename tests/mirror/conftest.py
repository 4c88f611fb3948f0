"""The mirror end to end: the three stand-ins on loopback, a real SAQ worker in this loop.

The stand-ins run for the whole session (each test gets empty call logs and no faults); every
test gets its own Redis prefix and its own events with one listing per platform. Jobs run in
SAQ workers started here, exactly as `community worker` runs them, minus the cron schedule
(a tick must not pull mid-test).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from redis.asyncio import Redis
from saq import Worker
from sqlalchemy import delete
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import PlatformCredentials, Settings
from community.models import Allocation, Event, EventStatus, Listing, SoldOutMode
from community.queue import make_queues
from community.redis_client import make_redis
from community.sandbox.runner import RunningSandbox, run_sandboxes
from community.sandbox.shapes import SeedEvent
from community.services.jobs import install_mirror, uninstall_mirror
from community.services.mirror.clients import use_sandbox_credentials
from community.services.seats.inventory import Inventory
from community.tasks import registry
from community.worker import load_task_modules
from tests.helpers.mirror import PLATFORMS, MakeEvent, MirroredEvent, MirrorRig


@pytest.fixture(scope="session")
async def running_sandboxes() -> AsyncIterator[dict[str, RunningSandbox]]:
    async with run_sandboxes() as running:
        for platform, sandbox in running.items():
            use_sandbox_credentials(platform, sandbox.credentials)
        yield running


@pytest.fixture
def sandboxes(running_sandboxes: dict[str, RunningSandbox]) -> dict[str, RunningSandbox]:
    """The stand-ins, with no faults, default rate budgets and an empty call log."""
    for running in running_sandboxes.values():
        sandbox = running.sandbox
        sandbox.faults.clear()
        default = sandbox.default_budget()
        sandbox.budget.configure(default.limit, default.window_s)
        sandbox.log.clear()
    return running_sandboxes


@pytest.fixture
def mirror_settings(settings: Settings, sandboxes: dict[str, RunningSandbox]) -> Settings:
    def creds(platform: str) -> PlatformCredentials:
        sandbox = sandboxes[platform]
        return PlatformCredentials(api_url=sandbox.base_url, auth_url=sandbox.base_url)

    return replace(
        settings,
        platform_mode="sandbox",
        meetup=creds("meetup"),
        eventbrite=creds("eventbrite"),
        luma=creds("luma"),
    )


@pytest.fixture
async def rig(
    mirror_settings: Settings,
    redis: Redis,
    session_maker: async_sessionmaker[AsyncSession],
    sandboxes: dict[str, RunningSandbox],
) -> AsyncIterator[MirrorRig]:
    load_task_modules()
    queue_redis = make_redis(mirror_settings)
    job_redis = make_redis(mirror_settings)
    queues = make_queues(mirror_settings, queue_redis)
    rig = MirrorRig(
        settings=mirror_settings,
        redis=job_redis,
        queues=queues,
        session_maker=session_maker,
        sandboxes=sandboxes,
        inventory=Inventory(job_redis, mirror_settings.redis_prefix),
    )

    async def startup(ctx: dict[str, Any]) -> None:
        ctx.update(rig.ctx())

    workers = [
        Worker(
            queue,
            functions=list(registry.TASKS.values()),
            startup=startup,
            concurrency=10,
            timers={"schedule": 1, "sweep": 60, "abort": 1, "stats": 60, "worker_info": 60},
        )
        for queue in queues.values()
    ]
    listener = install_mirror(mirror_settings, job_redis, queues, session_maker)
    tasks = [asyncio.create_task(worker.start()) for worker in workers]
    try:
        yield rig
    finally:
        uninstall_mirror(listener)
        await asyncio.gather(*(w.stop() for w in workers), return_exceptions=True)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for queue in queues.values():
            await queue.disconnect()
        await job_redis.aclose()


@pytest.fixture
async def make_event(rig: MirrorRig) -> AsyncIterator[MakeEvent]:
    made: list[UUID] = []

    async def make(
        capacity: int = 20,
        reserve: int = 5,
        mode: SoldOutMode = SoldOutMode.SOLD_OUT,
        *,
        platform_limit: int | None = None,
        platform_waitlist: bool = True,
        # The push and pull mechanics are tested with every listing offered the whole pool;
        # strict allocation (the product's default) has its own tests (test_strict_allocation.py).
        allocation: Allocation = Allocation.SHARED,
    ) -> MirroredEvent:
        starts = datetime.now(UTC) + timedelta(days=10)
        async with rig.session_maker() as session:
            event = Event(
                slug=f"mirror-{secrets.token_hex(4)}",
                title="Mirror test night",
                starts_at=starts,
                ends_at=starts + timedelta(hours=2),
                status=EventStatus.PUBLISHED,
                capacity=capacity,
                native_reserve=reserve,
                soldout_mode=mode,
                allocation=allocation,
            )
            session.add(event)
            await session.flush()
            listings = {}
            for platform in PLATFORMS:
                seed = SeedEvent(
                    title=event.title,
                    starts_at=starts,
                    limit=platform_limit,
                    waitlist=platform_waitlist,
                )
                external_id = rig.sandboxes[platform].sandbox.seed_event(seed)
                listing = Listing(event_id=event.id, platform=platform, external_id=external_id)
                session.add(listing)
                listings[platform] = listing
            await session.commit()
        made.append(event.id)
        return MirroredEvent(event, listings)

    yield make
    # Stand-ins live for the whole run; their event ids must not meet these listings again.
    # A job of the test may still be writing these rows: a deadlock is retried, not an error.
    for attempt in range(5):
        try:
            async with rig.session_maker() as session:
                await session.execute(delete(Event).where(Event.id.in_(made)))
                await session.commit()
            break
        except DBAPIError:
            if attempt == 4:
                raise
            await asyncio.sleep(0.2)
