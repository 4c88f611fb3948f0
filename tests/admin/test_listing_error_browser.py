"""What an organiser sees of a failing listing: its last error and when it is tried again,
on a desktop and a phone (screenshots in $SCREENSHOT_DIR or the temp dir)."""

from __future__ import annotations

import asyncio
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.models import Listing, SyncState, User
from tests.helpers.admin import MakeEvent
from tests.helpers.ui import DESKTOP, PHONE, sign_in


async def test_a_failing_listing_shows_its_error_and_retry_time(
    browser: Any,
    live_server: str,
    organiser: User,
    make_event: MakeEvent,
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    event = await make_event(title="Outage night")
    now = datetime.now(UTC)
    async with session_maker() as session:
        session.add(
            Listing(
                event_id=event.id,
                platform="eventbrite",
                external_id="424242424242",
                sync_state=SyncState.ERROR,
                last_pushed_limit=60,
                last_error="Eventbrite had a server error (503).",
                failing_since=now - timedelta(minutes=2),
                retry_at=now + timedelta(hours=2),  # not retried while we look
            )
        )
        await session.commit()
    out = Path(os.environ.get("SCREENSHOT_DIR") or tempfile.gettempdir()) / "admin-screens"
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    errors: list[str] = []
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        context = await browser.new_context(viewport=viewport)
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await sign_in(page, live_server, organiser)
        await page.goto(f"{live_server}/admin/events/{event.id}")
        shown = page.locator('[data-testid="error-eventbrite"]')
        await shown.wait_for()
        text = await shown.inner_text()
        assert "Eventbrite had a server error (503)." in text and "Retrying at" in text
        assert await shown.is_visible()
        await page.screenshot(path=str(out / f"listing-error-{label}.png"), full_page=True)
        assert not errors, errors
        await context.close()
