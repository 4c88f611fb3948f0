"""The seat form: cross-field errors together, no negative hint, a saved line naming every
change, and no Retry button while a push is simply under way."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.models import Listing, SyncState, User
from tests.helpers.ui import new_page, screenshots, sign_in

pytestmark = pytest.mark.browser


async def test_seat_form_says_everything_at_once(
    browser: Any,
    app_server: str,
    organiser: User,
    make_event: Any,
    register: Any,
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    event = await make_event(capacity=100, reserve=0, title="Seat form night")
    for i in range(12):
        await register(event, f"Guest {i}", f"guest{i}@example.com")
    async with session_maker() as session, session.begin():
        session.add(
            Listing(
                event_id=event.id, platform="luma", external_id="seat-form",
                sync_state=SyncState.PUSHING, last_pushed_limit=88,
            )
        )  # fmt: skip
    page = await new_page(browser)
    await sign_in(page, app_server, organiser)
    await page.goto(f"{app_server}/admin/events/{event.id}")
    # A push under way is not a failure: no Retry button.
    await expect(page.locator('[data-testid="listing-luma"] .pill-pushing')).to_be_visible()
    await expect(page.get_by_role("button", name="Retry now")).to_have_count(0)

    await page.fill("#s-capacity", "10")
    await page.fill("#s-reserve", "50")
    await page.click("text=Save and push")
    await expect(page.locator('[data-testid="capacity-error"]')).to_contain_text(
        "cannot go below 12"
    )
    await expect(page.locator('[data-testid="reserve-error"]')).to_contain_text(
        "cannot be more than the capacity (10)"
    )
    hint = page.locator('[data-testid="seat-hint"]')
    assert "-" not in await hint.inner_text()
    await screenshots(page, "seat-form-errors")

    await page.fill("#s-capacity", "120")
    await page.fill("#s-reserve", "20")
    await page.select_option("#s-mode", "sold_out")
    await page.click("text=Save and push")
    saved = page.locator(".seat-form .alert.ok")
    await expect(saved).to_contain_text(
        "Saved: capacity 100 → 120, native reserve 0 → 20, show sold out when full."
    )
    # Only the mode: the saved line still says what changed.
    await page.select_option("#s-mode", "waitlist")
    await page.click("text=Save and push")
    await expect(saved).to_contain_text("Saved: open a waitlist when full.")


async def test_new_event_form_error_goes_when_the_field_is_fixed(
    browser: Any, app_server: str, organiser: User
) -> None:
    page = await new_page(browser)
    await sign_in(page, app_server, organiser)
    await page.goto(f"{app_server}/admin/events/new")
    await page.fill("#f-capacity", "50")
    await page.click("text=Create draft")
    error = page.locator("#e-title")
    await expect(error).to_be_visible()
    await page.fill("#f-title", "A title at last")
    await expect(error).to_have_count(0)
    await expect(page.locator("#f-title")).not_to_have_attribute("aria-invalid", "true")
