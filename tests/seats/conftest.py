"""Fixtures for the Traffic Cop tests: an inventory on the test's own Redis prefix."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings
from community.models import Event, EventStatus, SoldOutMode
from community.services.seats.hooks import InventoryHooks, PromotionHooks
from community.services.seats.inventory import Inventory, InventorySettings, Snapshot
from community.services.seats.registrations import RegistrationService
from tests.helpers.seats import EmptyEvent, MakeEvent


@pytest.fixture
def inventory(redis: Redis, settings: Settings) -> Inventory:
    return Inventory(redis, settings.redis_prefix)


@pytest.fixture
def empty_event(inventory: Inventory) -> EmptyEvent:
    """Make a fresh event id whose state is loaded from an empty ledger snapshot."""

    async def make(
        capacity: int,
        reserve: int,
        mode: SoldOutMode | str = SoldOutMode.SOLD_OUT,
        *,
        open_: bool = True,
    ) -> uuid.UUID:
        event_id = uuid.uuid4()
        settings = InventorySettings(capacity, reserve, SoldOutMode(mode), open=open_)
        assert await inventory.load(event_id, Snapshot(settings, []))
        return event_id

    return make


@pytest.fixture
def hooks() -> InventoryHooks:
    """A listener registry of the test's own, so tests never hear each other."""
    return InventoryHooks()


@pytest.fixture
def promotions() -> PromotionHooks:
    """Who was seated from the waitlist, heard by this test only."""
    return PromotionHooks()


@pytest.fixture
def registrations(
    settings: Settings,
    redis: Redis,
    session_maker: async_sessionmaker[AsyncSession],
    hooks: InventoryHooks,
    promotions: PromotionHooks,
) -> RegistrationService:
    return RegistrationService.build(
        settings, redis, session_maker, hooks=hooks, promotions=promotions
    )


@pytest.fixture
def make_event(session_maker: async_sessionmaker[AsyncSession]) -> MakeEvent:
    """Create a published event in the ledger (nothing in Redis yet: first use loads it)."""

    async def make(
        capacity: int = 10,
        reserve: int = 0,
        mode: SoldOutMode | str = SoldOutMode.SOLD_OUT,
        *,
        status: EventStatus = EventStatus.PUBLISHED,
        starts_in: timedelta = timedelta(days=7),
    ) -> Event:
        token = secrets.token_hex(4)
        event = Event(
            slug=f"traffic-cop-{token}",
            title=f"Traffic Cop test {token}",
            starts_at=datetime.now(UTC) + starts_in,
            ends_at=None,
            capacity=capacity,
            native_reserve=reserve,
            soldout_mode=SoldOutMode(mode).value,
            status=status,
            venue_name="Test hall",
        )
        async with session_maker() as session, session.begin():
            session.add(event)
        return event

    return make


@pytest.fixture
async def refusing_writes(
    session_maker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[Any]:
    """A switch that makes PostgreSQL refuse registration writes for one event."""
    name = f"refuse_{uuid.uuid4().hex[:10]}"
    async with session_maker() as session, session.begin():
        await session.execute(text(f"CREATE TABLE {name} (event_id uuid PRIMARY KEY)"))
        await session.execute(
            text(
                f"""CREATE FUNCTION {name}() RETURNS trigger AS $$
                BEGIN
                    IF EXISTS (SELECT 1 FROM {name} WHERE event_id = NEW.event_id) THEN
                        RAISE EXCEPTION 'writes refused for this test'
                            USING ERRCODE = 'read_only_sql_transaction';
                    END IF;
                    RETURN NEW;
                END $$ LANGUAGE plpgsql"""
            )
        )
        await session.execute(
            text(
                f"CREATE TRIGGER {name} BEFORE INSERT OR UPDATE ON registrations "
                f"FOR EACH ROW EXECUTE FUNCTION {name}()"
            )
        )

    async def switch(event_id: uuid.UUID, refuse: bool) -> None:
        async with session_maker() as session, session.begin():
            if refuse:
                await session.execute(
                    text(f"INSERT INTO {name} VALUES (:e) ON CONFLICT DO NOTHING"), {"e": event_id}
                )
            else:
                await session.execute(
                    text(f"DELETE FROM {name} WHERE event_id = :e"), {"e": event_id}
                )

    yield switch
    async with session_maker() as session, session.begin():
        await session.execute(text(f"DROP TRIGGER {name} ON registrations"))
        await session.execute(text(f"DROP FUNCTION {name}()"))
        await session.execute(text(f"DROP TABLE {name}"))


@pytest.fixture(params=["full app", "API lane"])
def app(request: pytest.FixtureRequest, settings: Settings, redis: Redis) -> Any:
    """The JSON API's tests run twice: on the full app, and as `community web` serves it,
    down the API lane (community.api_lane), so both answer alike."""
    from community.api_lane import with_api_lane
    from community.app import create_app

    full = create_app(settings)
    return full if request.param == "full app" else with_api_lane(full)
