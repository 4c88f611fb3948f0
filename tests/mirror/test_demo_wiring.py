"""The demo's platforms: stand-ins started, accounts connected as an organiser would, the
sample event listed on all three with people there, pulled in and pushed out."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings
from community.demo.platforms import DemoPlatforms, link_demo_listings, start_demo_platforms
from community.models import (
    Event,
    EventStatus,
    Listing,
    PlatformAccount,
    Registration,
    Role,
    SoldOutMode,
    User,
)
from community.queue import make_queues
from community.services.seats.registrations import RegistrationService
from community.tasks.pull import pull_listing


@pytest.fixture
async def platforms(settings: Settings) -> AsyncIterator[DemoPlatforms]:
    started = await start_demo_platforms(settings)
    try:
        yield started
    finally:
        await started.stop()


async def test_demo_lists_the_sample_event_everywhere_and_mirrors_it(
    platforms: DemoPlatforms,
    redis: Redis,
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    settings = platforms.settings
    assert settings.platform_mode == "sandbox"
    assert settings.meetup.api_url == platforms.running["meetup"].base_url
    starts = datetime.now(UTC) + timedelta(days=14)
    async with session_maker() as session:
        owner = User(
            email=f"demo-{secrets.token_hex(4)}@example.org",
            name="Demo",
            role=Role.OWNER,
            password_hash="-",
        )
        event = Event(
            slug=f"demo-mirror-{secrets.token_hex(4)}",
            title="Python Meetup: Async in Production",
            starts_at=starts,
            ends_at=starts + timedelta(hours=3),
            status=EventStatus.PUBLISHED,
            capacity=100,
            native_reserve=40,
            soldout_mode=SoldOutMode.WAITLIST,
        )
        session.add_all([owner, event])
        await session.commit()
        try:
            listings = await link_demo_listings(
                session, platforms, owner, event, "http://127.0.0.1:9"
            )
            await _check(platforms, settings, redis, session_maker, event, listings)
        finally:
            await session.execute(delete(Event).where(Event.id == event.id))
            await session.execute(delete(User).where(User.id == owner.id))
            await session.commit()


async def _check(
    platforms: DemoPlatforms,
    settings: Settings,
    redis: Redis,
    session_maker: async_sessionmaker[AsyncSession],
    event: Event,
    listings: dict[str, Listing],
) -> None:
    assert set(listings) == {"meetup", "eventbrite", "luma"}
    async with session_maker() as session:
        accounts = {a.id: a for a in await session.scalars(select(PlatformAccount))}
    for platform, listing in listings.items():
        # Connected through the platform's own flow; tokens stored encrypted, never in clear.
        account = accounts[listing.account_id]  # type: ignore[index]
        assert account.platform == platform
        stored = account.api_key_enc or account.access_token_enc
        assert stored
        for secret in platforms.running[platform].credentials.values():
            assert secret not in stored
        state = platforms.running[platform].sandbox.event_state(listing.external_id)
        # People were there before we looked: three per platform, with the guests they bring.
        assert state["going"] == {"meetup": 4, "eventbrite": 5, "luma": 3}[platform]

    ctx: dict[str, Any] = {
        "settings": settings,
        "redis": redis,
        "session_maker": session_maker,
        "queues": make_queues(settings, redis),
    }
    for listing in listings.values():
        result = await pull_listing(ctx, listing_id=str(listing.id))
        assert result["outcome"] == "done"
    async with session_maker() as session:
        rows = (
            await session.scalars(select(Registration).where(Registration.event_id == event.id))
        ).all()
    # Nine platform registrations; Katherine is on Eventbrite and Luma: one seat for her.
    # Alan brings a guest on Meetup, Linus bought three tickets on Eventbrite: three more seats.
    confirmed = [r for r in rows if r.status == "confirmed"]
    assert len([r for r in confirmed if r.guest_of_id is None]) == 8
    assert len(confirmed) == 11
    counts = await RegistrationService.build(settings, redis, session_maker).counts(event.id)
    assert counts.shared_left == 60 - 11
