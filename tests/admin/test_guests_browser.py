"""Guests as an organiser sees them: on their host's row of the attendee list, in Chromium."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from community.models import User
from community.services.seats.guests import sync_guests
from community.services.seats.registrations import RegistrationService
from tests.helpers.admin import MakeEvent, Register
from tests.helpers.ui import DESKTOP, PHONE, sign_in

pytestmark = pytest.mark.browser


async def test_attendee_list_shows_guests_on_their_host(
    browser: Any,
    live_server: str,
    organiser: User,
    make_event: MakeEvent,
    register: Register,
    registrations: RegistrationService,
) -> None:
    event = await make_event(capacity=30, reserve=5)
    host = await register(event, "Gwen Group", "gwen@example.org", "meetup", external_id="rsvp-1")
    await register(event, "Sam Single", "sam@example.org")
    change = await sync_guests(
        registrations,
        event.id,
        host_id=host.registration_id,
        platform="meetup",
        source_external_id="rsvp-1",
        wanted=2,
    )
    assert change.taken == 2

    out = Path(os.environ.get("SCREENSHOT_DIR") or tempfile.gettempdir()) / "admin-screens"
    out.mkdir(parents=True, exist_ok=True)
    context = await browser.new_context(viewport=DESKTOP)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await sign_in(page, live_server, organiser)
    await page.goto(f"{live_server}/admin/events/{event.id}/attendees")

    rows = page.locator("#attendee-results tbody tr")
    assert await rows.count() == 2  # one row per person, not one per seat
    gwen = rows.filter(has_text="Gwen Group")
    assert (await gwen.locator('[data-testid="guests"]').inner_text()).strip() == "+2 guests"
    assert "+ 2 guests" in await page.locator("main").inner_text()
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        await page.set_viewport_size(size)
        await page.screenshot(path=str(out / f"attendees-guests-{label}.png"), full_page=True)
    assert errors == []
    await context.close()
