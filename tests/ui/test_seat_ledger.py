"""The organiser's seat ledger: a platform's own count beside ours, with the difference said in
words, and a cancellation that says what we can and cannot do on the platform."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.models import Listing, MemberIdentity, Registration, User
from community.services.seats.registrations import RegistrationService
from tests.helpers.ui import new_page, screenshots, sign_in

pytestmark = pytest.mark.browser


async def test_platform_count_and_ours_differ_only_with_a_sentence(
    browser: Any,
    app_server: str,
    organiser: User,
    make_event: Any,
    register: Any,
    registrations: RegistrationService,
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    event = await make_event(capacity=20, reserve=5, title="Ledger night")
    # Luma lists three people going: one holds a seat through Luma, one already had a seat on
    # Meetup (the pull linked them), one the organiser cancelled here.
    seated = await register(event, "Luma Lena", "lena@example.com", channel="luma")
    on_meetup = await register(event, "Meetup Mo", "mo@example.com", channel="meetup")
    gone = await register(event, "Luma Lou", "lou@example.com", channel="luma")
    await registrations.cancel(gone.ticket_token, by="organiser")
    async with session_maker() as session, session.begin():
        mo = await session.get(Registration, on_meetup.registration_id)
        assert mo is not None
        session.add(MemberIdentity(member_id=mo.member_id, platform="luma", external_id="luma-mo"))
        session.add(
            Listing(
                event_id=event.id,
                platform="luma",
                external_id="evt-ledger",
                platform_count=3,
                last_pushed_limit=3 + 13,
            )
        )
    assert seated.seat_no

    page = await new_page(browser)
    await sign_in(page, app_server, organiser)
    await page.goto(f"{app_server}/admin/events/{event.id}")
    ledger = page.locator('[data-testid="ledger-luma"]')
    await expect(ledger).to_contain_text(
        "Luma reports 3 going; 1 person holds a place through Luma."
    )
    await expect(ledger).to_contain_text(
        "1 person registered on Luma is also on Meetup; their seat is counted on Meetup."
    )
    await expect(ledger).to_contain_text("1 person you cancelled here is still going on Luma")
    await expect(ledger).to_contain_text("we cannot cancel a Luma registration through its API")
    await expect(ledger).to_contain_text("We pushed a limit of 16: the 3 going there plus 13 more")
    # The legend counts seats per channel; it says why a platform's count can differ.
    assert await page.locator('[data-testid="channel-luma"]').inner_text() == "1"
    await expect(page.locator('[data-testid="legend-note"]')).to_contain_text(
        "one per person, on the channel that took the seat first"
    )
    await screenshots(page, "ledger")


async def test_cancelling_a_platform_registration_says_what_happens_there(
    browser: Any, app_server: str, organiser: User, make_event: Any, register: Any
) -> None:
    event = await make_event(capacity=20, reserve=5, title="Cancel night")
    await register(event, "Meetup May", "may@example.com", channel="meetup")
    page = await new_page(browser)
    await sign_in(page, app_server, organiser)
    await page.goto(f"{app_server}/admin/events/{event.id}/attendees")
    page.on("dialog", lambda dialog: dialog.accept())
    await page.get_by_role(
        "button", name=re.compile("Cancel the registration of Meetup May")
    ).click()
    notice = page.locator(".alert").first
    await expect(notice).to_contain_text("Their seat is free here now.")
    await expect(notice).to_contain_text("We cannot cancel a Meetup registration through")
    await expect(notice).to_contain_text("the next full pull (within the hour)")
