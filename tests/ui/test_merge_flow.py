"""Two registrations of one person (Meetup and Eventbrite, two profiles, two seats) are
resolved in one flow: keep one seat, release the other, merge; the door lists them once."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.models import Registration, User
from tests.helpers.ui import new_page, screenshots, sign_in

pytestmark = pytest.mark.browser


async def test_merging_two_seated_duplicates_keeps_one_seat(
    browser: Any,
    app_server: str,
    organiser: User,
    make_event: Any,
    register: Any,
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    event = await make_event(capacity=10, reserve=0, title="Duplicate night")
    on_meetup = await register(event, "Morgan Lee", "morgan@example.com", channel="meetup")
    on_eventbrite = await register(event, "Morgan Lee", "m.lee@work.example", channel="eventbrite")
    async with session_maker() as session:
        keep = await session.get(Registration, on_meetup.registration_id)
        other = await session.get(Registration, on_eventbrite.registration_id)
    assert keep is not None and other is not None

    page = await new_page(browser)
    await sign_in(page, app_server, organiser)
    await page.goto(f"{app_server}/admin/members/{keep.member_id}?q=m.lee")
    await page.get_by_role("button", name="Merge into this profile").click()
    # Not a dead end: the choice of the seat to keep, with the first registration suggested.
    choice = page.locator('[data-testid="merge-choice"]')
    await expect(choice).to_contain_text("Duplicate night")
    checked = choice.locator("input[type=radio]:checked")
    assert await checked.get_attribute("value") == str(keep.id)
    await screenshots(page, "merge-choice")
    await page.get_by_role("button", name="Release the other seat and merge").click()
    notice = page.locator(".alert").first
    await expect(notice).to_contain_text("Merged: 1 identity and 1 registration moved here.")
    await expect(notice).to_contain_text("1 duplicate seat released.")
    await expect(notice).to_contain_text("remove them on Eventbrite")
    assert "(ies)" not in await notice.inner_text()

    async with session_maker() as session:
        released = await session.get(Registration, other.id)
        kept = await session.get(Registration, keep.id)
    assert released is not None and released.status == "cancelled"
    assert kept is not None and kept.status == "confirmed" and kept.seat_no

    # The door lists the person once, in its full list and in its search.
    roster = await page.request.get(f"{app_server}/door/api/events/{event.id}/roster")
    body = await roster.json()
    names = [row for row in body["people"] if "Morgan" in str(row)]
    assert len(names) == 1, names
    found = await page.request.get(f"{app_server}/door/api/events/{event.id}/search?q=morgan")
    assert len((await found.json())["people"]) == 1
    # And the seat went back: one seat taken.
    await page.goto(f"{app_server}/admin/events/{event.id}")
    await expect(page.locator('[data-testid="taken"]')).to_contain_text("1")
