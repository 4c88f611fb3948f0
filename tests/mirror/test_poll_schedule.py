"""Adaptive polling: every few seconds while a listing sells or nears its limit, within the
platform's rate budget; every few minutes when quiet. The rule, then the scheduler's tick."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from community.models import Listing
from community.sandbox.shapes import Person
from community.services.mirror.poll_schedule import PollFacts, poll_interval
from community.services.mirror.rate_budget import LIMITS
from community.tasks.pull import pull_all_listings
from tests.helpers.mirror import PLATFORMS, MakeEvent, MirrorRig, eventually

NOW = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)


def facts(platform: str, **changes: object) -> PollFacts:
    values: dict[str, object] = {
        "platform": platform,
        "platform_count": 10,
        "last_pushed_limit": 60,
        "remote_state": "open",
        "sales_seen_at": None,
    }
    values.update(changes)
    return PollFacts(**values)  # type: ignore[arg-type]


def test_quiet_listings_are_polled_every_few_minutes() -> None:
    assert poll_interval(facts("eventbrite"), NOW) == 300
    assert poll_interval(facts("luma"), NOW) == 300
    assert poll_interval(facts("meetup"), NOW) == 120  # no webhooks there
    sold_lately = facts("meetup", sales_seen_at=NOW - timedelta(minutes=20))
    assert poll_interval(sold_lately, NOW) == 60


def test_selling_or_nearly_full_listings_are_polled_every_few_seconds() -> None:
    selling = {p: facts(p, sales_seen_at=NOW - timedelta(seconds=30)) for p in PLATFORMS}
    near = {p: facts(p, platform_count=58) for p in PLATFORMS}
    for platform in PLATFORMS:
        for case in (selling[platform], near[platform]):
            assert poll_interval(case, NOW) <= 10, platform
    assert poll_interval(selling["meetup"], NOW) == 2
    assert poll_interval(selling["luma"], NOW) == 2
    # A closed listing is not "near its limit": it sells nothing more.
    assert poll_interval(facts("luma", platform_count=60, remote_state="sold_out"), NOW) == 300


def test_hot_polling_stays_within_half_of_each_platforms_budget() -> None:
    for platform in PLATFORMS:
        for hot in (1, 3, 20):
            case = facts(platform, sales_seen_at=NOW, platform_count=250)
            interval = poll_interval(case, NOW, hot_on_account=hot)
            calls_per_pull = 3 if platform == "luma" else 2
            rate = hot * calls_per_pull / interval
            assert rate <= 0.5 * LIMITS[platform].refill_per_s + 1e-9, (platform, hot)


async def test_the_tick_pulls_due_listings_and_schedules_the_next_pull(
    rig: MirrorRig, make_event: MakeEvent
) -> None:
    event = await make_event(capacity=50, reserve=0)
    meetup = rig.sandboxes["meetup"].sandbox
    meetup.add_registration(event.external("meetup"), Person("Ada", member_id="200001"))

    first = await pull_all_listings(rig.ctx())
    assert first["listings"] >= 3  # never pulled: due at once

    async def scheduled() -> dict[str, float]:
        async with rig.session_maker() as session:
            rows = {p: await session.get(Listing, event.listings[p].id) for p in PLATFORMS}
        if any(r is None or r.last_pulled_at is None for r in rows.values()):
            return {}
        return {
            p: (r.next_pull_at - r.last_pulled_at).total_seconds()  # type: ignore[union-attr,operator]
            for p, r in rows.items()
        }

    await eventually(scheduled, within=15)
    gaps = await scheduled()
    # Meetup just sold one: hot. The others are quiet.
    assert gaps["meetup"] <= 3
    assert gaps["eventbrite"] >= 299 and gaps["luma"] >= 299

    # Nothing is due again right away: the next tick leaves them alone.
    async def next_pulls() -> list[datetime | None]:
        async with rig.session_maker() as session:
            rows = [await session.get(Listing, event.listings[p].id) for p in PLATFORMS]
        return [r.next_pull_at if r is not None else None for r in rows]

    before = await next_pulls()
    await pull_all_listings(rig.ctx())
    assert await next_pulls() == before
