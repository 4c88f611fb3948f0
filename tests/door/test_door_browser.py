"""The door page in headless Chromium, its camera playing a video of a real ticket's QR code."""

from __future__ import annotations

import asyncio
from pathlib import Path
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page, Playwright, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from community.config import Settings
from community.demo.ledger_rows import add_people, make_event
from community.models import CheckinLog, Registration, User
from community.services.tickets.qr import ticket_qr
from community.services.tickets.signatures import TicketSigner, ticket_signer
from tests.helpers.door import launch_with_camera, sign_in
from tests.helpers.fake_camera import qr_video

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


async def _open_door(page: Page, live_server: str, user: User, event_id: UUID) -> None:
    path = f"/door/events/{event_id}"
    await sign_in(page, live_server, user, path)
    assert page.url.endswith(path)
    await expect(page.locator("#door")).to_have_attribute("data-offline-ready", "1", timeout=15000)


async def _start(page: Page, device: str) -> None:
    await page.fill("#device", device)
    await page.click("#start-button")
    await expect(page.locator("#scanner-kind")).to_be_visible()


async def _registration(session: AsyncSession, registration_id: UUID) -> Registration:
    row = await session.get(Registration, registration_id, populate_existing=True)
    assert row is not None
    return row


async def test_scan_green_then_amber(
    playwright: Playwright,
    live_server: str,
    door_user: User,
    db_session: AsyncSession,
    settings: Settings,
    tmp_path: Path,
) -> None:
    event = await make_event(db_session, timezone="Europe/Berlin")
    ada, _ = await add_people(db_session, event, ["Ada Lovelace", "Bo Brown"], channels=("meetup",))
    token = ticket_signer(settings.secret_key).sign(event.id, ada.registration_id)
    browser = await launch_with_camera(playwright, qr_video(ticket_qr(token), tmp_path / "t.y4m"))
    try:
        page = await (await browser.new_context(viewport=PHONE)).new_page()
        scans: list[dict[str, str]] = []
        page.on(
            "request",
            lambda request: scans.append(request.headers) if "/checkins" in request.url else None,
        )
        await _open_door(page, live_server, door_user, event.id)
        await expect(page.locator("#count-expected")).to_have_text("2")
        await _start(page, "Door 2")
        # The fallback decoder reads the camera: Linux Chromium has no BarcodeDetector.
        await expect(page.locator("#scanner-kind")).to_contain_text("jsQR")

        answer = page.locator("#answer")
        await expect(answer).to_have_attribute("data-tone", "green", timeout=15000)
        await expect(answer).to_be_visible()
        await expect(page.locator("#answer-name")).to_have_text("Ada Lovelace")
        await expect(page.locator("#answer-channel")).to_have_text("Meetup")
        await expect(page.locator("#count-in")).to_have_text("1")
        elapsed = await page.evaluate("window.doorTimings.lastAnswerMs")
        assert elapsed < 1000, f"answer took {elapsed} ms"

        registration = await _registration(db_session, ada.registration_id)
        assert registration.checked_in_by == "Door 2"
        checked_at = registration.checked_in_at
        # The scan was signed in with the page's door token (the API skips the session).
        assert scans and all(headers.get("x-door-token") for headers in scans)
        assert checked_at is not None

        # The ticket is still in front of the camera: once the pause is over, it reads amber.
        await expect(answer).to_have_attribute("data-tone", "amber", timeout=20000)
        local = checked_at.astimezone(ZoneInfo("Europe/Berlin"))
        await expect(page.locator("#answer-detail")).to_have_text(
            f"Checked in at {local:%H:%M} by Door 2 (this device)."
        )
    finally:
        await browser.close()


async def test_forged_ticket_is_red(
    playwright: Playwright,
    live_server: str,
    door_user: User,
    db_session: AsyncSession,
    tmp_path: Path,
) -> None:
    event = await make_event(db_session)
    (ada,) = await add_people(db_session, event, ["Ada Lovelace"])
    forged = TicketSigner("somebody else's secret key, not ours" * 2).sign(
        event.id, ada.registration_id
    )
    browser = await launch_with_camera(playwright, qr_video(ticket_qr(forged), tmp_path / "f.y4m"))
    try:
        page = await (await browser.new_context(viewport=PHONE)).new_page()
        await _open_door(page, live_server, door_user, event.id)
        await _start(page, "Door 1")
        answer = page.locator("#answer")
        await expect(answer).to_have_attribute("data-tone", "red", timeout=15000)
        await expect(page.locator("#answer-title")).to_have_text("Forged ticket")
        assert (await _registration(db_session, ada.registration_id)).checked_in_at is None
        # Refused scans are logged on the server too: the page shows red first, then reports
        # the scan, so the log row may come a moment after the answer.
        await expect(page.locator("#queue-state")).to_be_hidden()
        logged: list[str] = []
        for _ in range(100):
            logged = list(
                await db_session.scalars(
                    select(CheckinLog.result).where(CheckinLog.event_id == event.id)
                )
            )
            if logged:
                break
            await asyncio.sleep(0.05)
        assert "forged" in logged
    finally:
        await browser.close()


async def test_offline_scans_verify_queue_and_sync_after(
    playwright: Playwright,
    live_server: str,
    door_user: User,
    db_session: AsyncSession,
    settings: Settings,
    tmp_path: Path,
) -> None:
    event = await make_event(db_session)
    (ada,) = await add_people(db_session, event, ["Ada Lovelace"], channels=("native",))
    token = ticket_signer(settings.secret_key).sign(event.id, ada.registration_id)
    browser = await launch_with_camera(playwright, qr_video(ticket_qr(token), tmp_path / "o.y4m"))
    try:
        context = await browser.new_context(viewport=PHONE)
        page = await context.new_page()
        await _open_door(page, live_server, door_user, event.id)

        # The connection drops; even a reload is answered by the service worker.
        await context.set_offline(True)
        await page.reload()
        await expect(page.locator("#door")).to_have_attribute("data-offline-ready", "1")
        await expect(page.locator("#net")).to_have_text("Offline")
        await _start(page, "Door 3")

        answer = page.locator("#answer")
        await expect(answer).to_have_attribute("data-tone", "green", timeout=15000)
        await expect(page.locator("#answer-name")).to_have_text("Ada Lovelace")
        await expect(page.locator("#answer-detail")).to_contain_text("Saved on this phone")
        await expect(page.locator("#queue-state")).to_have_text("1 check-in waiting to be sent")
        assert (await _registration(db_session, ada.registration_id)).checked_in_at is None

        # Back online: the queue is sent and the server records the scan as made offline.
        await context.set_offline(False)
        await expect(page.locator("#queue-state")).to_be_hidden(timeout=15000)
        registration = await _registration(db_session, ada.registration_id)
        assert registration.checked_in_by == "Door 3"
        log = (
            await db_session.scalars(select(CheckinLog).where(CheckinLog.event_id == event.id))
        ).all()
        assert [(entry.result, entry.offline) for entry in log] == [("ok", True)]
    finally:
        await browser.close()
