"""Fixtures for the public pages: published events, the registration service, e-mail jobs."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings
from community.models import Event, EventStatus, SoldOutMode, Theme
from community.queue import make_queues
from community.services.seats.hooks import InventoryHooks, PromotionHooks
from community.services.seats.registrations import RegistrationService
from tests.helpers.public import EMAIL_TASKS, MakeEvent, RunJobs


@pytest.fixture
def make_event(session_maker: async_sessionmaker[AsyncSession]) -> MakeEvent:
    """A published event as an organiser would fill it in; nothing in Redis until first use."""

    async def make(
        *,
        theme: Theme = Theme.MEETUP,
        capacity: int = 50,
        reserve: int = 10,
        mode: SoldOutMode = SoldOutMode.SOLD_OUT,
        status: EventStatus = EventStatus.PUBLISHED,
        starts_in: timedelta = timedelta(days=10),
        online: bool = False,
        **fields: Any,
    ) -> Event:
        token = secrets.token_hex(4)
        start = (datetime.now(UTC) + starts_in).replace(microsecond=0)
        values: dict[str, Any] = {
            "slug": f"page-test-{token}",
            "title": f"Async Python Evening {token}",
            "summary": "Three short talks on asyncio in production, then pizza.",
            "description_md": (
                "Join us for **talks** & pizza.\n\n- one\n- two\n\n<script>x()</script>"
            ),
            "starts_at": start,
            "ends_at": start + timedelta(hours=3),
            "timezone": "Europe/Berlin",
            "organiser_name": "Berlin Python Community",
            "group_name": "Berlin Python Meetup",
            "theme": theme,
            "capacity": capacity,
            "native_reserve": reserve,
            "soldout_mode": mode,
            "status": status,
            "published_at": datetime.now(UTC) - timedelta(days=1),
        }
        if online:
            values.update(online_url="https://meet.example.org/secret-room")
        else:
            values.update(
                venue_name="Factory Görlitzer Park",
                address="Lohmühlenstraße 65",
                city="Berlin",
                country="DE",
                latitude=52.4934,
                longitude=13.4469,
            )
        values.update(fields)
        event = Event(**values)
        async with session_maker() as session, session.begin():
            session.add(event)
        return event

    return make


@pytest.fixture
def registrations(
    settings: Settings, redis: Redis, session_maker: async_sessionmaker[AsyncSession]
) -> RegistrationService:
    """The same service the pages use, for arranging who is already registered."""
    return RegistrationService.build(
        settings, redis, session_maker, hooks=InventoryHooks(), promotions=PromotionHooks()
    )


@pytest.fixture
def run_email_jobs(
    settings: Settings, redis: Redis, session_maker: async_sessionmaker[AsyncSession]
) -> RunJobs:
    """Run the e-mail jobs the requests queued (and the deliveries they queue), as a worker
    would; other jobs (mirror pushes) are left alone. Returns (function, result) pairs.
    The queues are the app's (same names), on this test's own Redis connection."""
    queues = make_queues(settings, redis)

    async def run() -> list[tuple[str, Any]]:
        ctx: dict[str, Any] = {
            "settings": settings,
            "redis": redis,
            "session_maker": session_maker,
            "queues": queues,
        }
        done: list[tuple[str, Any]] = []
        while True:
            job = await queues["urgent"].dequeue(timeout=0.05)
            if job is None:
                return done
            function = EMAIL_TASKS.get(job.function)
            if function is None:
                continue
            ctx["job"] = job
            done.append((job.function, await function(ctx, **job.kwargs)))

    return run
