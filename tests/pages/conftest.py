"""Fixtures for the public pages: published events, the registration service, e-mail jobs."""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings
from community.models import Event, EventStatus, SoldOutMode, Theme
from community.queue import make_queues
from community.services.seats.hooks import InventoryHooks, PromotionHooks
from community.services.seats.registrations import RegistrationService
from community.tasks import email as email_tasks

MakeEvent = Callable[..., Awaitable[Event]]
EMAIL_TASKS = {
    "send_ticket_email": email_tasks.send_ticket_email,
    "send_signin_email": email_tasks.send_signin_email,
    "deliver_email": email_tasks.deliver_email,
}


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


async def csrf(client: AsyncTestClient[Litestar], path: str = "/my-tickets") -> str:
    """The CSRF token of the signed-in and personal pages (the shared event pages carry
    none: their forms are checked by origin)."""
    if "csrftoken" not in client.cookies:
        await client.get(path)
    return client.cookies.get("csrftoken") or ""


async def post_form(
    client: AsyncTestClient[Litestar],
    path: str,
    data: dict[str, str],
    *,
    htmx: bool = False,
    follow_redirects: bool = False,
) -> Any:
    token = await csrf(client)
    headers = {"x-csrftoken": token}
    if htmx:
        headers["hx-request"] = "true"
    return await client.post(path, data=data, headers=headers, follow_redirects=follow_redirects)


RunJobs = Callable[[], Awaitable[list[tuple[str, Any]]]]


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


def ticket_token_in(text: str) -> str:
    match = re.search(r"/tickets/([A-Za-z0-9_-]{16,64})", text)
    assert match, "no ticket link in the answer"
    return match.group(1)
