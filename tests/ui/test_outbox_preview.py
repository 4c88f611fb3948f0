"""The outbox shows a mail as its recipient sees it: full width, the QR code in place, and a
long link in the plain text never widens the page; at 1280 and 390 px."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings
from community.models import OutboxMessage, User
from community.queue import make_queues
from community.tasks.email import send_ticket_email
from tests.helpers.ui import new_page, page_width, screenshots, sign_in

pytestmark = pytest.mark.browser


async def test_ticket_mail_preview_shows_the_qr_and_fits(
    browser: Any,
    app_server: str,
    owner: User,
    make_event: Any,
    register: Any,
    settings: Settings,
    redis: Redis,
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    event = await make_event(title="Outbox night")
    placed = await register(event, "Ada Lovelace", "ada@example.com")
    ctx = {
        "settings": settings,
        "redis": redis,
        "session_maker": session_maker,
        "queues": make_queues(settings, redis),
    }
    await send_ticket_email(ctx, registration_id=str(placed.registration_id), reason="new")
    async with session_maker() as session:
        message = await session.scalar(
            # This registration's own mail: other tests mail the same address too.
            select(OutboxMessage).where(OutboxMessage.registration_id == placed.registration_id)
        )
    assert message is not None and "cid:" in message.html_body

    page = await new_page(browser)
    await sign_in(page, app_server, owner)  # the outbox is the owner's
    for width in (1280, 390):
        await page.set_viewport_size({"width": width, "height": 900})
        await page.goto(f"{app_server}/admin/outbox/{message.id}")
        frame = page.frame_locator('[data-testid="mail-preview"]')
        qr = frame.locator("img[alt^='Ticket QR code']")
        await expect(qr).to_be_visible()
        # The image really loaded: a broken one has no natural width.
        assert await qr.evaluate("img => img.complete && img.naturalWidth > 0")
        box = await page.locator('[data-testid="mail-preview"]').bounding_box()
        assert box is not None and box["width"] >= min(width - 120, 600), box
        assert await page_width(page) <= width, await page_width(page)
    await screenshots(page, "outbox-message")
