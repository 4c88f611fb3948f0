"""The organiser admin in headless Chromium, against the live app, its worker and the stand-ins.

One story, as an organiser lives it: sign in, create an event, set C=100 and R=40 (after a
refused value shown in place), publish, link a Luma listing, then watch the panel count a
registration from the native page and one from Luma without reloading; import a Meetup event;
export the attendees as CSV. Then every admin page is photographed at desktop and phone
width (into SCREENSHOT_DIR when set) and checked for console errors.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.models import Event, Listing, User
from community.sandbox.shapes import Person, SeedEvent
from tests.conftest import watch_csp
from tests.helpers.ui import DESKTOP, PHONE, sign_in

pytestmark = pytest.mark.browser


async def stat(page: Any, name: str) -> str:
    return (await page.locator(f'[data-testid="{name}"]').first.inner_text()).split("/")[0].strip()


async def wait_stat(page: Any, name: str, value: str, within_ms: float = 20_000) -> None:
    """Wait for the live panel to show `value`, without any reload by the test."""
    await page.wait_for_function(
        """([name, value]) => {
            const el = document.querySelector(`[data-testid="${name}"]`);
            return el && el.innerText.split('/')[0].trim() === value;
        }""",
        arg=[name, value],
        timeout=within_ms,
    )


async def test_organiser_story(
    browser: Any,
    live_server: str,
    rig: Any,
    organiser: User,
    session_maker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    from community.services.jobs import enqueue_pull

    base = live_server
    context = await browser.new_context(viewport=DESKTOP, accept_downloads=True)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await watch_csp(page)
    await sign_in(page, base, organiser)

    # Create an event.
    await page.click("text=New event")
    await page.fill("#f-title", "Browser Meetup Night")
    await page.fill("#f-venue_name", "Factory Berlin")
    await page.fill("#f-city", "Berlin")
    await page.fill("#f-capacity", "50")
    await page.fill("#f-native_reserve", "0")
    await page.check("input[name=theme][value=luma]")
    await page.wait_for_selector("#theme-preview iframe")  # the live preview answered
    await page.click("text=Create draft")
    await page.wait_for_url(re.compile(r"/admin/events/[0-9a-f-]{36}$"))
    event_url = page.url
    assert await page.locator(".alert.ok").first.is_visible()

    # Seats inline: a refused value is explained in place, then C=100, R=40.
    await page.fill("#s-capacity", "100")
    await page.fill("#s-reserve", "150")
    await page.click("text=Save and push")
    error = page.locator('[data-testid="reserve-error"]')
    await error.wait_for()
    assert "cannot be more than the capacity (100)" in await error.inner_text()
    assert page.url == event_url  # no navigation: the form answered in place
    await page.fill("#s-reserve", "40")
    # Every listing may sell all the shared seats (strict splitting has its own tests).
    await page.select_option("#s-allocation", "shared")
    await page.click("text=Save and push")
    await page.locator(".seat-form .alert.ok").wait_for()
    assert "every listing may sell all the shared seats left." in (
        await page.locator(".seat-form .alert.ok").inner_text()
    )
    await wait_stat(page, "shared-left", "60")

    # Publish, then link a Luma listing seeded on the stand-in.
    await page.click("button:has-text('Publish')")
    await page.wait_for_selector("text=is live at")
    luma = rig.sandboxes["luma"]
    luma_id = luma.sandbox.seed_event(SeedEvent(title="Browser Meetup Night"))
    await page.select_option("#l-platform", "luma")
    await page.fill("#l-source", f"{luma.base_url}/{luma_id}")
    await page.click("text=Link listing")
    await page.wait_for_selector('[data-testid="listing-luma"]')
    # The mirror pushes the first limit: 0 going there + 60 shared seats.
    await page.wait_for_selector('[data-testid="listing-luma"] .pill-ok', timeout=20_000)
    async with session_maker() as session:
        event = await session.scalar(select(Event).where(Event.title == "Browser Meetup Night"))
        listing = await session.scalar(select(Listing).where(Listing.external_id == luma_id))
    assert event is not None and listing is not None and listing.last_pushed_limit == 60

    # A registration on the native page (another tab): the panel counts it by itself.
    visitor = await context.new_page()
    await watch_csp(visitor)
    await visitor.goto(f"{base}/events/{event.slug}")
    await visitor.fill("#reg-name", "Nina Native")
    await visitor.fill("#reg-email", "nina@example.com")
    await visitor.click("#register-submit")
    await visitor.wait_for_selector("text=You're in!")
    await visitor.close()
    await wait_stat(page, "channel-native", "1")
    await wait_stat(page, "taken", "1")
    await wait_stat(page, "shared-left", "60")  # the reserve took it

    # A guest registers on Luma; the pull (a webhook or the minute's sweep) brings them in.
    luma.sandbox.add_registration(luma_id, Person("Lars Luma", "lars@example.com"))
    await enqueue_pull(rig.settings, rig.redis, rig.queues, listing.id)
    await wait_stat(page, "channel-luma", "1")
    await wait_stat(page, "taken", "2")
    await wait_stat(page, "shared-left", "59")

    # More seats: the change reaches Luma at once. 1 going there + (110 - 40 - 1) shared left.
    await page.fill("#s-capacity", "110")
    await page.click("text=Save and push")
    await wait_stat(page, "shared-left", "69")
    await wait_stat(page, "limit-luma", "70")
    await page.wait_for_selector('[data-testid="listing-luma"] .pill-ok')
    assert luma.sandbox.event_state(luma_id)["limit"] == 70

    # Import a Meetup event with one RSVP.
    meetup = rig.sandboxes["meetup"]
    meetup_id = meetup.sandbox.seed_event(SeedEvent(title="Imported Python Evening", limit=80))
    meetup.sandbox.add_registration(meetup_id, Person("Mo Meetup", member_id="m-777"))
    await page.goto(f"{base}/admin/events/import")
    await page.fill("#i-source", f"https://www.meetup.com/sandbox/events/{meetup_id}/")
    await page.click("text=Import event")
    await page.wait_for_selector("text=Imported “Imported Python Evening” from Meetup")
    imported_url = page.url
    await wait_stat(page, "channel-meetup", "1")

    # Back to the first event: the attendee list, filtered, exported as CSV.
    await page.goto(f"{event_url}/attendees")
    await page.fill("#a-q", "lars")
    await page.wait_for_selector('[data-testid="attendee-count"]:has-text("1 person")')
    await page.fill("#a-q", "")
    await page.wait_for_selector('[data-testid="attendee-count"]:has-text("2 people")')
    async with page.expect_download() as download_info:
        await page.click("#csv-link")
    download = await download_info.value
    saved = tmp_path / "attendees.csv"
    await download.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert sorted((r["name"], r["channel"]) for r in rows) == [
        ("Lars Luma", "luma"),
        ("Nina Native", "native"),
    ]
    assert not errors, errors

    # Every page, photographed at desktop and phone width.
    await screenshot_pages(browser, context, base, event_url, imported_url, errors)
    assert not errors, errors
    await context.close()


async def screenshot_pages(
    browser: Any, signed_in: Any, base: str, event_url: str, imported_url: str, errors: list[str]
) -> None:
    out = Path(os.environ.get("SCREENSHOT_DIR") or tempfile.gettempdir()) / "admin-screens"
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    state = await signed_in.storage_state()
    pages = {
        "events": f"{base}/admin/events",
        "event-new": f"{base}/admin/events/new",
        "event-overview": event_url,
        "event-edit": f"{event_url}/edit",
        "event-attendees": f"{event_url}/attendees",
        "imported-overview": imported_url,
        "import": f"{base}/admin/events/import",
        "members": f"{base}/admin/members",
        "platforms": f"{base}/admin/accounts",
        "sync-log": f"{base}/admin/activity",
    }
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        context = await browser.new_context(viewport=viewport, storage_state=state)
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await watch_csp(page)
        for name, url in pages.items():
            response = await page.goto(url)
            assert response is not None and response.status == 200, (name, url)
            await page.wait_for_load_state("networkidle")
            await page.screenshot(path=str(out / f"{name}-{label}.png"), full_page=True)
        # A member profile, reached the way an organiser does.
        await page.goto(f"{event_url}/attendees")
        await page.click("text=Nina Native")
        await page.wait_for_url(re.compile(r"/admin/members/[0-9a-f-]{36}$"))
        await page.screenshot(path=str(out / f"member-{label}.png"), full_page=True)
        await context.close()


async def test_the_owner_copies_an_invite_link_under_the_pages_policy(
    browser: Any, live_server: str, owner: User, organiser: User, make_event: Any
) -> None:
    """The invite link selects itself on focus, from the admin script (no inline handler)."""
    context = await browser.new_context(viewport=DESKTOP)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await watch_csp(page)
    await sign_in(page, live_server, owner)
    await page.goto(f"{live_server}/admin/users")
    await page.fill("#u-name", "Door Person")
    await page.fill("#u-email", "door.person@example.com")
    await page.check("input[name=role][value=door]")
    await page.click("text=Create invite link")
    link = page.locator("[data-select-on-focus]")
    await link.focus()
    selected = await page.evaluate(
        "() => { const el = document.activeElement;"
        " return el.value.slice(el.selectionStart, el.selectionEnd); }"
    )
    assert selected == await link.input_value() and "/welcome/" in selected
    # The outbox (every e-mail sent, to anyone) is the owner's page.
    out = Path(os.environ.get("SCREENSHOT_DIR") or tempfile.gettempdir()) / "admin-screens"
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        await page.set_viewport_size(viewport)
        response = await page.goto(f"{live_server}/admin/outbox")
        assert response is not None and response.status == 200
        await page.screenshot(path=str(out / f"outbox-{label}.png"), full_page=True)
    # The owner sees who manages an event, and can hand it over.
    event = await make_event(title="Handed over night")
    await page.goto(f"{live_server}/admin/events/{event.id}")
    await page.select_option("#m-owner", str(organiser.id))
    await page.screenshot(path=str(out / "manager-phone.png"), full_page=True)
    await page.click("text=Hand over")
    await page.wait_for_selector(f"text={organiser.name} now manages")
    assert not errors, errors
    await context.close()
