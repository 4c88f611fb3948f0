"""Contrast of every piece of text on the pages people use (WCAG AA: 4.5:1, 3:1 for large
text), measured in the browser from the computed colours; and an h1 on the door page."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.models import Event, Listing, User
from tests.helpers.ui import new_page, sign_in

pytestmark = pytest.mark.browser

# Walk every element that has its own text; blend its colour over the first opaque
# background up the tree; skip text over images or gradients (measured by eye instead).
CONTRAST_JS = """
() => {
  const parse = (c) => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const p = m[1].split(',').map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = ([r, g, b]) => {
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const blend = (top, under) => [0, 1, 2].map((i) => top[i] * top[3] + under[i] * (1 - top[3]));
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.backgroundImage && s.backgroundImage !== 'none') return null;
      const c = parse(s.backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let base = [255, 255, 255];
    for (let i = layers.length - 1; i >= 0; i--) base = blend(layers[i], base);
    return base;
  };
  const bad = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const s = getComputedStyle(el);
    const r = el.getBoundingClientRect();
    if (s.visibility === 'hidden' || r.width === 0 || r.right <= 0 || r.bottom <= 0) continue;
    if (el.closest('[aria-hidden="true"], .sr-only, .hp, svg, noscript')) continue;
    const bg = background(el); const fg = parse(s.color);
    if (!bg || !fg) continue;
    const text = blend(fg, bg);
    const [a, b] = [lum(text), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    const size = parseFloat(s.fontSize); const bold = parseInt(s.fontWeight, 10) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    const what = `${el.tagName}.${el.className} "${el.textContent.trim().slice(0, 30)}"`;
    if (ratio < need) bad.push(`${ratio.toFixed(2)} ${what}`);
  }
  return bad;
}
"""


async def low_contrast(page: Any) -> list[str]:
    return list(await page.evaluate(CONTRAST_JS))


async def test_text_contrast_on_public_admin_and_door_pages(
    browser: Any,
    app_server: str,
    organiser: User,
    make_event: Any,
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    event = await make_event(title="Contrast night")
    async with session_maker() as session, session.begin():
        session.add(Listing(event_id=event.id, platform="luma", external_id="contrast"))
    page = await new_page(browser)
    problems: dict[str, list[str]] = {}
    for theme in ("luma", "meetup"):
        async with session_maker() as session, session.begin():
            (await session.get(Event, event.id)).theme = theme  # type: ignore[union-attr]
        for phone in (False, True):
            await page.set_viewport_size(
                {"width": 390, "height": 844} if phone else {"width": 1280, "height": 900}
            )
            await page.goto(f"{app_server}/events/{event.slug}")
            problems[f"{theme} {'390' if phone else '1280'}"] = await low_contrast(page)
    await page.set_viewport_size({"width": 1280, "height": 900})
    await sign_in(page, app_server, organiser)
    for path in ("/admin/events", f"/admin/events/{event.id}"):
        await page.goto(f"{app_server}{path}")
        await page.wait_for_selector('[data-testid="listing-luma"]') if "events/" in path else None
        problems[path] = await low_contrast(page)
    await page.goto(f"{app_server}/door/events/{event.id}")
    await expect(page.locator("h1")).to_have_text("Contrast night")
    await expect(page.locator('#net[data-state="online"]')).to_be_visible(timeout=15_000)
    problems["door"] = await low_contrast(page)
    assert not any(problems.values()), {k: v for k, v in problems.items() if v}
