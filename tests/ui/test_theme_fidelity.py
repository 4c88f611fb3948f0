"""Theme fidelity: a venue map that costs nothing until asked for, covers that don't repeat the
title, Luma's phone order (host near the top) and the Luma theme kept on the events list."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.models import Event
from community.services.people.members import remember_photo
from tests.helpers.ui import new_page, screenshots

pytestmark = pytest.mark.browser


async def _luma(event: Event, session_maker: async_sessionmaker[AsyncSession]) -> None:
    async with session_maker() as session, session.begin():
        saved = await session.get(Event, event.id)
        assert saved is not None
        saved.theme, saved.latitude, saved.longitude = "luma", 52.4934, 13.4469
        saved.organiser_name = "Berlin Python Community"


async def test_luma_page_map_cover_order_and_list(
    browser: Any,
    app_server: str,
    make_event: Any,
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    event = await make_event(title="Fidelity night")
    await _luma(event, session_maker)
    page = await new_page(browser, phone=True)
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if "127.0.0.1" not in r.url else None)
    await page.route(
        "https://www.openstreetmap.org/**",
        lambda route: route.fulfill(body="<p>map</p>", content_type="text/html"),
    )
    await page.goto(f"{app_server}/events/{event.slug}")
    # The cover is art, not the title a second time.
    assert "Fidelity night" not in await page.locator("svg.cover-art").inner_html()
    # Luma's phone order: the host right under the title, above the registration.
    title = await page.locator("h1").bounding_box()
    host = await page.locator(".lu-hosts").bounding_box()
    card = await page.locator("#register").bounding_box()
    assert title and host and card and title["y"] < host["y"] < card["y"], (title, host, card)
    await screenshots(page, "luma-event")

    # The map: nothing from outside until the visitor taps.
    assert outside == [], outside
    await page.get_by_role("link", name="Show map").click()
    frame = page.locator("iframe.map-frame")
    await expect(frame).to_be_visible()
    assert "openstreetmap.org/export/embed.html" in (await frame.get_attribute("src") or "")

    # Explore events keeps the Luma look.
    await page.set_viewport_size({"width": 1280, "height": 900})
    await page.get_by_role("link", name="Explore events").click()
    await page.wait_for_load_state()
    assert "theme=luma" in page.url
    assert await page.locator(".lu-brand").count() == 1


FACE = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96">'
    '<rect width="96" height="96" fill="#0e7490"/><circle cx="48" cy="38" r="18" fill="#fde68a"/>'
    '<rect x="18" y="62" width="60" height="34" rx="17" fill="#fde68a"/></svg>'
)


@pytest.mark.parametrize("theme", ["meetup", "luma"])
async def test_a_meetup_member_photo_shows_in_the_faces_of_who_is_going(
    theme: str,
    browser: Any,
    app_server: str,
    make_event: Any,
    register: Any,
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    event = await make_event(title="Faces night")
    async with session_maker() as session, session.begin():
        saved = await session.get(Event, event.id)
        assert saved is not None
        saved.theme = theme
    photo = "https://photos.example.org/member/4242/thumb.jpeg"
    await register(event, "Ada Lovelace", None, "meetup", member_id="4242")
    await register(event, "Grace Hopper", "grace@example.org")  # no photo: her initial
    async with session_maker() as session, session.begin():
        await remember_photo(session, "meetup", "4242", photo)

    page = await new_page(browser, phone=True)
    await page.route(
        "https://photos.example.org/**",
        lambda route: route.fulfill(body=FACE, content_type="image/svg+xml"),
    )
    await page.goto(f"{app_server}/events/{event.slug}")
    faces = page.locator(".faces .face")
    await expect(faces).to_have_count(2)
    image = page.locator(f'.faces img[src="{photo}"]')
    await expect(image).to_be_visible()
    assert await image.evaluate("img => img.complete && img.naturalWidth > 0")
    box = await image.bounding_box()
    assert box and 30 <= box["width"] <= 40, box  # covers its face, no bigger
    assert await page.locator(".faces .face:not(:has(img))").inner_text() == "G"
    await screenshots(page, f"faces-{theme}")
