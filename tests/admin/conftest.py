"""Admin test fixtures: events made through the real services, a live server for the browser.

The sandbox stand-ins and the SAQ worker rig come from the mirror tests' fixtures, so the
admin is tested against the same mirror, pulls and stand-ins as everything else.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings
from community.models import Event, EventStatus, SoldOutMode, User
from community.services.seats.hooks import InventoryHooks, PromotionHooks
from community.services.seats.registrations import RegistrationService
from tests.helpers.admin import CHROMIUM_ARGS, LiveClient, MakeEvent, Register, serve
from tests.mirror.conftest import (  # noqa: F401  (fixtures shared with the mirror tests)
    mirror_settings,
    rig,
    running_sandboxes,
    sandboxes,
)


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


@pytest.fixture
async def live_server(rig: Any) -> AsyncIterator[str]:  # noqa: F811  (the fixture)
    """The app in sandbox mode against the stand-ins, with the rig's SAQ workers running."""
    async with serve(rig.settings) as base_url:
        yield base_url


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


@pytest.fixture
async def live_client(live_server: str) -> AsyncIterator[LiveClient]:
    async with LiveClient(base_url=live_server, timeout=30) as client:
        yield client
