"""Helpers of the door tests: a Chromium with a fake camera, signing in at the door, the
connection the door's operations run on."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import asyncpg
from playwright.async_api import Browser, Page, Playwright
from sqlalchemy.ext.asyncio import AsyncSession

from community.models import User
from tests.conftest import watch_csp
from tests.helpers.web import TEST_PASSWORD

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
HAVE_CHROMIUM = CHROMIUM.exists()
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


async def door_connection(session: AsyncSession) -> asyncpg.Connection:
    """The session's own asyncpg connection, committed first, as the door API hands it to the
    door's operations (community.db.session_driver)."""
    await session.commit()
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    return driver


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def launch_with_camera(playwright: Playwright, video: Path) -> Browser:
    """Headless Chromium whose camera plays `video` and needs no permission prompt."""
    return await playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={video}",
        ],
    )


async def sign_in(page: Page, base_url: str, user: User, next_path: str) -> None:
    await watch_csp(page)
    await page.goto(f"{base_url}/login?next={next_path}")
    await page.fill("#email", user.email)
    await page.fill("#password", TEST_PASSWORD)
    async with page.expect_navigation():
        await page.click("button[type=submit]")
