"""Admin test fixtures: events made through the real services, a live server for the browser.

The sandbox stand-ins and the SAQ worker rig come from the mirror tests' fixtures, so the
admin is tested against the same mirror, pulls and stand-ins as everything else.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from litestar import Litestar
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings
from community.models import Event, EventStatus, SoldOutMode, User
from community.services.seats.hooks import InventoryHooks, PromotionHooks
from community.services.seats.registrations import Registered, RegistrationService
from tests.conftest import TEST_PASSWORD
from tests.mirror.conftest import (  # noqa: F401  (fixtures shared with the mirror tests)
    eventually,
    mirror_settings,
    rig,
    running_sandboxes,
    sandboxes,
)

MakeEvent = Callable[..., Awaitable[Event]]
Register = Callable[..., Awaitable[Registered]]


@pytest.fixture
async def make_event(session_maker: async_sessionmaker[AsyncSession], organiser: User) -> MakeEvent:
    """An event owned by the test's organiser (pass owner=None for one nobody owns)."""

    async def make(
        *,
        capacity: int = 100,
        reserve: int = 40,
        status: EventStatus = EventStatus.PUBLISHED,
        mode: SoldOutMode = SoldOutMode.WAITLIST,
        title: str = "Admin test night",
        owner: User | None = organiser,
    ) -> Event:
        starts = datetime.now(UTC) + timedelta(days=7)
        async with session_maker() as session:
            event = Event(
                slug=f"admin-{secrets.token_hex(4)}",
                title=title,
                starts_at=starts,
                ends_at=starts + timedelta(hours=2),
                timezone="Europe/Berlin",
                venue_name="Community Hall",
                city="Berlin",
                status=status,
                capacity=capacity,
                native_reserve=reserve,
                soldout_mode=mode,
                owner_id=owner.id if owner is not None else None,
            )
            session.add(event)
            await session.commit()
            return event

    return make


@pytest.fixture
def registrations(
    settings: Settings, redis: Redis, session_maker: async_sessionmaker[AsyncSession]
) -> RegistrationService:
    """Registrations made by the test itself. Its own hooks: the app's listeners (the mirror,
    holding the app's database pool; the promotion e-mail) must not run in the test's loop."""
    return RegistrationService.build(
        settings, redis, session_maker, hooks=InventoryHooks(), promotions=PromotionHooks()
    )


@pytest.fixture
def register(registrations: RegistrationService) -> Register:
    """Register someone natively (channel="native") or as a platform registration."""

    async def add(event: Event, name: str, email: str | None, channel: str = "native", **kw: Any):
        if channel == "native":
            return await registrations.register(event.id, name=name, email=email)
        return await registrations.record_platform_registration(
            event.id,
            platform=channel,
            name=name,
            email=email,
            platform_member_id=kw.get("member_id") or f"m-{secrets.token_hex(4)}",
            external_id=kw.get("external_id") or f"r-{secrets.token_hex(4)}",
        )

    return add


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _QuietServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test runner owns the signals
        pass


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[str]:
    """The whole app on a loopback port in this event loop (so it can call the stand-ins,
    which run in this loop too). Yields its base URL."""
    from community.app import create_app

    port = free_port()
    settings = replace(settings, base_url=f"http://127.0.0.1:{port}")
    app: Litestar = create_app(settings)
    server = _QuietServer(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started)
    try:
        yield settings.base_url
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


@pytest.fixture
async def live_server(rig: Any) -> AsyncIterator[str]:  # noqa: F811  (the fixture)
    """The app in sandbox mode against the stand-ins, with the rig's SAQ workers running."""
    async with serve(rig.settings) as base_url:
        yield base_url


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


class LiveClient(httpx.AsyncClient):
    """A browser-like HTTP client for the live server: cookies, CSRF header, sign-in."""

    async def csrf(self) -> str:
        if "csrftoken" not in self.cookies:
            await self.get("/login")
        return self.cookies.get("csrftoken") or ""

    async def form(self, url: str, data: dict[str, str], **kw: Any) -> httpx.Response:
        return await self.post(url, data=data, headers={"x-csrftoken": await self.csrf()}, **kw)

    async def sign_in(self, user: User) -> None:
        response = await self.form("/login", {"email": user.email, "password": TEST_PASSWORD})
        assert response.status_code == 303, response.text


@pytest.fixture
async def live_client(live_server: str) -> AsyncIterator[LiveClient]:
    async with LiveClient(base_url=live_server, timeout=30) as client:
        yield client
