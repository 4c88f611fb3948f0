"""The overview's charts: registrations that all came in a moment ago draw a step at the left
of the chart (not a sliver at its right edge); one quarter hour of arrivals is one bar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.models import Registration, User
from tests.helpers.ui import new_page, screenshots, sign_in

pytestmark = pytest.mark.browser


async def test_charts_use_their_width(
    browser: Any,
    app_server: str,
    organiser: User,
    make_event: Any,
    register: Any,
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    event = await make_event(title="Chart night")
    placed = [await register(event, f"Guest {i}", f"chart{i}@example.com") for i in range(3)]
    async with session_maker() as session, session.begin():
        await session.execute(
            update(Registration)
            .where(Registration.id == placed[0].registration_id)
            .values(checked_in_at=datetime.now(UTC) - timedelta(minutes=2))
        )
    page = await new_page(browser)
    await sign_in(page, app_server, organiser)
    await page.goto(f"{app_server}/admin/events/{event.id}")
    charts = page.locator("svg.chart")
    registrations, arrivals = charts.nth(0), charts.nth(1)
    chart_box = await registrations.bounding_box()
    band_box = await registrations.locator("path[fill-opacity]").first.bounding_box()
    assert chart_box is not None and band_box is not None
    # The band of people holding a place spans most of the plot.
    assert band_box["width"] > 0.6 * chart_box["width"], (band_box, chart_box)
    bar = await arrivals.locator("rect.bar").first.bounding_box()
    whole = await arrivals.bounding_box()
    assert bar is not None and whole is not None
    assert bar["width"] < 0.2 * whole["width"], (bar, whole)
    await screenshots(page, "charts")
