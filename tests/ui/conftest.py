"""Fixtures for what people see across the product (issue: one clear truth, pages that show
where the person stands): the app under uvicorn without the mirror workers, a browser, a
signed-in organiser page, and screenshots at desktop and phone width."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings
from community.services.seats.hooks import InventoryHooks, PromotionHooks
from community.services.seats.registrations import RegistrationService
from tests.admin.conftest import (  # noqa: F401  (fixtures shared with the admin tests)
    browser,
    make_event,
    register,
)
from tests.helpers.admin import serve


@pytest.fixture
async def app_server(settings: Settings) -> AsyncIterator[str]:
    """The whole app on a loopback port, no mirror workers: what is on screen comes from the
    ledger the test arranged."""
    async with serve(settings) as base_url:
        yield base_url


@pytest.fixture
def registrations(
    settings: Settings, redis: Redis, session_maker: async_sessionmaker[AsyncSession]
) -> RegistrationService:
    return RegistrationService.build(
        settings, redis, session_maker, hooks=InventoryHooks(), promotions=PromotionHooks()
    )
