"""Fixtures for what people see across the product (issue: one clear truth, pages that show
where the person stands): the app under uvicorn without the mirror workers, a browser, a
signed-in organiser page, and screenshots at desktop and phone width."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings
from community.models import User
from community.services.seats.hooks import InventoryHooks, PromotionHooks
from community.services.seats.registrations import RegistrationService
from tests.admin.conftest import (  # noqa: F401  (fixtures)
    CHROMIUM_ARGS,
    browser,
    make_event,
    register,
    serve,
)
from tests.conftest import TEST_PASSWORD

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


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


async def new_page(chromium: Any, *, phone: bool = False) -> Any:
    context = await chromium.new_context(viewport=PHONE if phone else DESKTOP, is_mobile=phone)
    page = await context.new_page()
    page.set_default_timeout(10_000)
    return page


async def sign_in(page: Any, base: str, user: User) -> None:
    await page.goto(f"{base}/login")
    await page.fill("#email", user.email)
    await page.fill("#password", TEST_PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/admin/events")


async def screenshots(page: Any, name: str) -> None:
    """The page at 1280 and 390 px, full length, into SCREENSHOT_DIR (or a temp folder)."""
    out = Path(os.environ.get("SCREENSHOT_DIR") or tempfile.gettempdir()) / "ui-screens"
    out.mkdir(parents=True, exist_ok=True)
    for label, size in (("1280", DESKTOP), ("390", PHONE)):
        await page.set_viewport_size(size)
        await page.screenshot(path=str(out / f"{name}-{label}.png"), full_page=True)
    await page.set_viewport_size(DESKTOP)


async def page_width(page: Any) -> int:
    return int(await page.evaluate("document.documentElement.scrollWidth"))
