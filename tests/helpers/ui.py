"""Helpers of the browser tests: pages at phone and desktop sizes, signing in, screenshots."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from community.models import User
from tests.helpers.web import TEST_PASSWORD

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


async def new_page(chromium: Any, *, phone: bool = False) -> Any:
    context = await chromium.new_context(viewport=PHONE if phone else DESKTOP, is_mobile=phone)
    page = await context.new_page()
    page.set_default_timeout(10_000)
    return page


async def sign_in(page: Any, base: str, user: User) -> None:
    await page.goto(f"{base}/login")
    await page.fill("#email", user.email)
    await page.fill("#password", TEST_PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/admin/events")


async def screenshots(page: Any, name: str) -> None:
    """The page at 1280 and 390 px, full length, into SCREENSHOT_DIR (or a temp folder)."""
    out = Path(os.environ.get("SCREENSHOT_DIR") or tempfile.gettempdir()) / "ui-screens"
    out.mkdir(parents=True, exist_ok=True)
    for label, size in (("1280", DESKTOP), ("390", PHONE)):
        await page.set_viewport_size(size)
        await page.screenshot(path=str(out / f"{name}-{label}.png"), full_page=True)
    await page.set_viewport_size(DESKTOP)


async def page_width(page: Any) -> int:
    return int(await page.evaluate("document.documentElement.scrollWidth"))
