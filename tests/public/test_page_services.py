"""The pieces behind the pages: calendar files, Markdown, JSON-LD escaping, links, limits."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import Redis

from community.config import Settings
from community.models import Event, EventStatus, SoldOutMode
from community.services.access import limiter, magic_links, visitor_limits
from community.services.events.text import plain_text, render_markdown, shorten
from community.views.calendar import google_calendar_url, ics_for_event
from community.views.event_pages import SaleState, sale_state
from community.views.seo import script_json


def event(**fields: object) -> Event:
    start = datetime(2026, 12, 11, 17, 0, tzinfo=UTC)
    values: dict[str, object] = {
        "id": uuid4(),
        "slug": "x",
        "title": "Design; Systems, Night\\",
        "summary": "A line\nand another",
        "description_md": "",
        "starts_at": start,
        "ends_at": start + timedelta(hours=2),
        "timezone": "Europe/London",
        "venue_name": "Hall",
        "address": "1 Long Street",
        "city": "London",
        "online_url": "",
        "organiser_name": "Design Circle",
        "status": EventStatus.PUBLISHED,
        "capacity": 100,
        "soldout_mode": SoldOutMode.SOLD_OUT,
        "latitude": None,
        "longitude": None,
        "updated_at": start,
    }
    values.update(fields)
    return Event(**values)


def unfold(ics: str) -> str:
    return ics.replace("\r\n ", "")


def test_ics_escapes_text_and_uses_utc() -> None:
    ics = ics_for_event(event(), page_url="https://ev.example.org/events/x")
    lines = unfold(ics).split("\r\n")
    assert "SUMMARY:Design\\; Systems\\, Night\\\\" in lines
    assert "DTSTART:20261211T170000Z" in lines and "DTEND:20261211T190000Z" in lines
    assert any(line.startswith("UID:") and line.endswith("@ev.example.org") for line in lines)
    assert "STATUS:CONFIRMED" in lines
    assert ics.endswith("\r\n")


@given(st.text(min_size=1, max_size=400))
def test_ics_lines_never_exceed_75_octets(title: str) -> None:
    ics = ics_for_event(event(title=title), page_url="https://ev.example.org/events/x")
    for line in ics.split("\r\n"):
        assert len(line.encode()) <= 75
    assert unfold(ics).count("BEGIN:VEVENT") == 1


def test_cancelled_event_calendar_says_so() -> None:
    ics = ics_for_event(event(status=EventStatus.CANCELLED), page_url="https://e.org/events/x")
    assert "STATUS:CANCELLED" in ics


def test_google_calendar_link() -> None:
    url = google_calendar_url(event(), page_url="https://ev.example.org/events/x")
    query = parse_qs(urlsplit(url).query)
    assert urlsplit(url).netloc == "calendar.google.com"
    assert query["dates"] == ["20261211T170000Z/20261211T190000Z"]
    assert query["ctz"] == ["Europe/London"] and "Hall" in query["location"][0]


def test_markdown_is_sanitised() -> None:
    html = render_markdown(
        "# Title\n\n[bad](javascript:alert(1)) <img src=x onerror=alert(1)> "
        "[ok](https://example.org) <iframe src=https://evil></iframe>"
    )
    assert "<h2>Title</h2>" in html  # the page's title is the only h1
    # Dangerous markup survives only as visible text, never as a tag or a link.
    assert 'href="javascript' not in html and "<img" not in html and "<iframe" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'href="https://example.org" rel="nofollow noopener ugc"' in html
    assert plain_text("Fish &amp; **chips**") == "Fish & chips"
    assert shorten("word " * 100, 40).endswith("…") and len(shorten("word " * 100, 40)) <= 40


def test_json_ld_cannot_close_its_script() -> None:
    text = script_json({"name": "</script><script>alert(1)</script>"})
    assert "</script>" not in text and "<" not in text
    assert json.loads(text)["name"].startswith("</script>")


def test_sale_states() -> None:
    ev = event(capacity=100)
    assert sale_state(ev, 50).state == SaleState.OPEN
    assert sale_state(ev, 10).state == SaleState.LIMITED
    assert sale_state(ev, 0).state == SaleState.SOLD_OUT
    assert sale_state(event(soldout_mode=SoldOutMode.WAITLIST), 0).state == SaleState.WAITLIST
    assert sale_state(ev, 50, is_open=False).state == SaleState.CLOSED
    assert sale_state(event(status=EventStatus.CANCELLED), 50).state == SaleState.CANCELLED
    later = datetime(2027, 1, 1, tzinfo=UTC)
    assert sale_state(ev, 50, now=later).state == SaleState.ENDED


async def test_magic_link_single_use(redis: Redis, settings: Settings) -> None:
    token = magic_links.make_token(settings.secret_key, "member-1")
    assert magic_links.read_token(settings.secret_key, token).member_id == "member-1"
    claim = await magic_links.consume(redis, settings, token)
    assert claim.member_id == "member-1"
    with pytest.raises(magic_links.LinkError) as used:
        await magic_links.consume(redis, settings, token)
    assert used.value.problem == magic_links.LinkProblem.USED
    with pytest.raises(magic_links.LinkError) as other_key:
        magic_links.read_token("another-secret-" + "y" * 40, magic_links.make_token(
            settings.secret_key, "member-1"))  # fmt: skip
    assert other_key.value.problem == magic_links.LinkProblem.INVALID
    stale = magic_links.make_token(settings.secret_key, "m", now=time.time() - 3600)
    with pytest.raises(magic_links.LinkError) as expired:
        magic_links.read_token(settings.secret_key, stale)
    assert expired.value.problem == magic_links.LinkProblem.EXPIRED


async def test_visitor_limit_window(redis: Redis, settings: Settings) -> None:
    limit = visitor_limits.Limit("test", 3, 60)
    results = [await visitor_limits.hit(redis, settings, limit, "203.0.113.9") for _ in range(4)]
    assert results[:3] == [0, 0, 0] and 0 < results[3] <= 60
    assert await visitor_limits.hit(redis, settings, limit, "203.0.113.10") == 0
    keys = [k async for k in redis.scan_iter(match=f"{settings.redis_prefix}limit:*")]
    assert keys and all(b"203.0.113" not in k for k in keys)  # addresses are hashed


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(1, "1 minute"), (60, "1 minute"), (61, "2 minutes"), (90, "2 minutes"), (150, "3 minutes")],
)
def test_a_wait_is_told_in_whole_minutes_rounded_up(seconds: int, words: str) -> None:
    assert limiter.wait_text(seconds) == words


async def test_the_limiter_counts_windows_and_asks_without_counting(
    redis: Redis, settings: Settings
) -> None:
    key = f"{settings.redis_prefix}limiter-test"
    assert await limiter.wait_when_full(redis, [(key, 2, 60)]) == 0
    assert [hits for hits, _ in await limiter.count(redis, [(key, 60)] * 2)] == [1, 2]
    assert 0 < await limiter.wait_when_full(redis, [(key, 2, 60)]) <= 60
    assert await limiter.wait_when_full(redis, [(key, 3, 60)]) == 0  # asking did not count
    await redis.persist(key)  # a full counter that lost its expiry still waits a window
    assert await limiter.wait_when_full(redis, [(key, 2, 60)]) == 60
    hits, ttl = (await limiter.count(redis, [(key, 60)]))[0]
    assert (hits, 0 < ttl <= 60) == (3, True)  # and counting heals it
