"""The event page shows the person where they stand: "you're going" to someone it knows (same
browser after registering, or signed in through My tickets), from a signed cookie and no server
session; and states that follow the live count (waitlist, sold out, reopened) in the button,
the intro and the mobile bar."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings
from community.models import Event, Registration, SoldOutMode
from community.services.access import magic_links
from community.services.seats.registrations import RegistrationService
from tests.helpers.ui import new_page, screenshots

pytestmark = pytest.mark.browser


async def test_same_browser_sees_its_place_after_registering(
    browser: Any, app_server: str, make_event: Any
) -> None:
    event = await make_event(capacity=10, reserve=2, title="Going night")
    page = await new_page(browser, phone=True)
    url = f"{app_server}/events/{event.slug}"
    await page.goto(url)
    bar = page.locator("#bar-cta")
    await expect(bar).to_have_text("Attend")
    await page.get_by_label("Your name").fill("Ada Lovelace")
    await page.get_by_label("E-mail").fill("ada@example.com")
    await page.locator("#register-submit").click()
    await expect(page.locator(".outcome-title")).to_have_text("You're in!")
    # The mobile bar follows at once: no "Attend" right after "You're in!".
    await expect(bar).to_contain_text("You're going")

    response = await page.goto(url)
    assert response is not None
    headers = await response.all_headers()
    assert "no-store" in headers["cache-control"] and "private" in headers["cache-control"]
    mine = page.locator('[data-testid="you-are-going"]')
    await expect(mine).to_contain_text("You're going")
    await expect(mine.get_by_role("link", name="View my ticket")).to_be_visible()
    await expect(mine.get_by_role("link", name="Add to calendar")).to_be_visible()
    await expect(mine.get_by_role("link", name="Cancel my registration")).to_be_visible()
    await expect(page.locator("#register-title")).to_have_text("You're going")
    await expect(bar).to_contain_text("You're going")
    await expect(page.locator("form.register-form")).to_have_count(0)
    await screenshots(page, "event-going")

    # Anyone else gets the shared page, which says nothing about Ada.
    async with httpx.AsyncClient() as other:
        shared = await other.get(url)
    assert "You're going" not in shared.text and "no-store" not in shared.headers["cache-control"]


async def test_a_forged_cookie_shows_the_form(
    browser: Any, app_server: str, make_event: Any, register: Any
) -> None:
    event = await make_event(capacity=10, reserve=2)
    async with httpx.AsyncClient() as client:
        page = await client.get(
            f"{app_server}/events/{event.slug}", cookies={"my_places": "AAAA" + "x" * 40}
        )
    assert page.status_code == 200 and "register-form" in page.text
    assert "You're going" not in page.text


async def test_my_tickets_sign_in_shows_the_place_on_the_event_page(
    browser: Any,
    app_server: str,
    make_event: Any,
    register: Any,
    settings: Settings,
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    event = await make_event(capacity=10, reserve=2, title="Signed in night")
    placed = await register(event, "Grace Hopper", "grace@example.com")
    async with session_maker() as session, session.begin():
        registration = await session.get(Registration, placed.registration_id)
        (await session.get(Event, event.id)).theme = "luma"  # type: ignore[union-attr]
    assert registration is not None
    token = magic_links.make_token(settings.secret_key, str(registration.member_id))
    page = await new_page(browser)
    await page.goto(f"{app_server}/my-tickets/signin/{token}")
    await page.get_by_role("button", name="Open my tickets").click()
    await page.wait_for_url(f"{app_server}/my-tickets")
    await page.goto(f"{app_server}/events/{event.slug}")
    await expect(page.locator('[data-testid="you-are-going"]')).to_contain_text("You're going")
    await screenshots(page, "event-going-luma")


async def test_the_form_follows_the_live_count_into_the_waitlist(
    browser: Any, app_server: str, make_event: Any, registrations: RegistrationService
) -> None:
    event = await make_event(capacity=1, reserve=0, mode=SoldOutMode.WAITLIST)
    page = await new_page(browser, phone=True)
    await page.goto(f"{app_server}/events/{event.slug}")
    await expect(page.locator("#cta-label")).to_have_text("Attend")
    await page.get_by_label("Your name").fill("Half typed")
    await registrations.register(event.id, name="Quick One", email="quick@example.com")
    # Within one poll, everything that names the state changes with it; the typing stays.
    await expect(page.locator("#live-seats")).to_contain_text("waitlist open", timeout=12_000)
    await expect(page.locator("#cta-label")).to_have_text("Join the waitlist")
    await expect(page.locator("#register-title")).to_have_text("Join the waitlist")
    await expect(page.locator('[data-testid="waitlist-intro"]')).to_be_visible()
    await expect(page.locator("#bar-cta")).to_have_text("Join the waitlist")
    assert await page.get_by_label("Your name").input_value() == "Half typed"


async def test_sold_out_and_reopened_follow_the_live_count(
    browser: Any, app_server: str, make_event: Any, registrations: RegistrationService
) -> None:
    event = await make_event(capacity=1, reserve=0, mode=SoldOutMode.SOLD_OUT)
    page = await new_page(browser, phone=True)
    await page.goto(f"{app_server}/events/{event.slug}")
    taken = await registrations.register(event.id, name="Quick One", email="quick@example.com")
    await expect(page.locator("#register-body")).to_contain_text("Sold out", timeout=12_000)
    bar = page.locator("#bar-cta")
    await expect(bar).to_have_text("Sold out")
    # Not a bright call to action for something nobody can do.
    assert "btn-primary" not in (await bar.locator("a").get_attribute("class") or "")
    await screenshots(page, "event-sold-out")
    await registrations.cancel(taken.ticket_token)
    await expect(page.locator("#cta-label")).to_have_text("Attend", timeout=12_000)
    await expect(bar).to_have_text("Attend")


async def test_mobile_attend_puts_the_cursor_in_the_form_and_fixed_errors_go(
    browser: Any, app_server: str, make_event: Any
) -> None:
    event = await make_event(capacity=10, reserve=2)
    page = await new_page(browser, phone=True)
    await page.goto(f"{app_server}/events/{event.slug}")
    await page.locator("#bar-cta a").click()
    await expect(page.locator("#reg-name")).to_be_focused()
    await page.locator("#register-submit").click()
    error = page.locator("#reg-name-error")
    await expect(error).to_be_visible()
    await page.get_by_label("Your name").fill("Ada Lovelace")
    await expect(error).to_have_count(0)
