"""A sync log worth reading: no-change pulls collapsed into one "last checked" line, the event's
tab showing that event only, every time in the event's zone with the zone named."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.models import Listing, User
from community.services.mirror import sync_log
from tests.helpers.ui import new_page, screenshots, sign_in

pytestmark = pytest.mark.browser


async def test_event_tab_shows_its_own_readable_log(
    browser: Any,
    app_server: str,
    organiser: User,
    make_event: Any,
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    event = await make_event(title="Log night")  # Europe/Berlin: CET in December
    other = await make_event(title="Other night")
    async with session_maker() as session, session.begin():
        mine = Listing(event_id=event.id, platform="meetup", external_id="log-1")
        theirs = Listing(event_id=other.id, platform="luma", external_id="log-2")
        session.add_all([mine, theirs])
        await session.flush()
        await sync_log.record(
            session, listing=mine, platform="meetup", direction="push", action="set_limit",
            outcome="ok", detail="Limit 60: 0 going on Meetup + 60 shared seats.",
        )  # fmt: skip
        await sync_log.record(
            session, listing=mine, platform="meetup", direction="pull", action="pull_all",
            outcome="ok", detail="1 new, 0 cancelled. 1 going on the platform.",
        )  # fmt: skip
        await sync_log.record(
            session, listing=theirs, platform="luma", direction="push", action="set_limit",
            outcome="ok", detail="Someone else's event.",
        )  # fmt: skip
        await sync_log.record(
            session, listing=mine, platform="meetup", direction="pull",
            action=sync_log.CHECKED, outcome="ok", detail="No change: 1 going on the platform.",
        )  # fmt: skip

    page = await new_page(browser)
    await sign_in(page, app_server, organiser)
    await page.goto(f"{app_server}/admin/events/{event.id}")
    await page.get_by_role("link", name="Sync log").last.click()
    await page.wait_for_url(f"{app_server}/admin/events/{event.id}/activity")
    # Still on the event's page, its tab current, only its own entries.
    await expect(page.locator('.tabs a[aria-current="page"]')).to_have_text("Sync log")
    rows = page.locator("#sync-rows tbody tr")
    await expect(rows).to_have_count(2)
    await expect(page.locator("#sync-rows")).not_to_contain_text("Someone else's event")
    checked = page.locator('[data-testid="last-checked"]')
    await expect(checked).to_contain_text("Last checked, no change")
    await expect(checked).to_contain_text("CET")
    for cell in await rows.locator("td:first-child").all_inner_texts():
        assert cell.strip().endswith("CET"), cell
    await expect(page.locator("#sync-rows thead")).not_to_contain_text("UTC")
    await screenshots(page, "sync-log-event")

    # The old address with ?event= lands on the same tab.
    await page.goto(f"{app_server}/admin/activity?event={event.id}")
    await page.wait_for_url(f"{app_server}/admin/events/{event.id}/activity")
