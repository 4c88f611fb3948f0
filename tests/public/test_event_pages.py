"""The public event pages over real HTTP: content, SEO, caching, 404/410, live fragment."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.models import Event, EventStatus, SoldOutMode, Theme
from community.services.seats.registrations import RegistrationService
from tests.helpers.public import MakeEvent

Client = AsyncTestClient[Litestar]


def json_ld(html: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    assert match, "no JSON-LD on the page"
    return json.loads(match.group(1))


def meta(html: str, key: str) -> str:
    match = re.search(rf'<meta (?:property|name)="{re.escape(key)}" content="([^"]*)"', html)
    assert match, f"no meta tag {key}"
    return match.group(1)


async def test_event_page_shows_the_event_in_its_time_zone(
    client: Client, make_event: MakeEvent
) -> None:
    event = await make_event(theme=Theme.MEETUP)
    response = await client.get(f"/events/{event.slug}")
    assert response.status_code == 200
    html = response.text
    assert event.title in html
    local = event.starts_at.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    assert f"{local:%H:%M}" in html and local.strftime("%Z") in html
    assert "Factory Görlitzer Park" in html and "openstreetmap.org" in html
    assert "<strong>talks</strong>" in html
    assert "<script>x()</script>" not in html  # raw HTML in Markdown is shown as text
    assert 'class="theme-meetup' in html
    assert "50 spots left" in html
    assert 'name="_csrf_token"' in html and 'name="website"' in html  # CSRF and honeypot


async def test_both_themes_render_the_same_facts(client: Client, make_event: MakeEvent) -> None:
    meetup = await make_event(theme=Theme.MEETUP)
    luma = await make_event(theme=Theme.LUMA, online=True)
    meetup_html = (await client.get(f"/events/{meetup.slug}")).text
    luma_html = (await client.get(f"/events/{luma.slug}")).text
    assert "theme-meetup" in meetup_html and "mu-titleband" in meetup_html
    assert "theme-luma" in luma_html and "lu-card" in luma_html
    assert "Online" in luma_html
    # The joining link is for registered guests only: not on the public page or in its data.
    assert "secret-room" not in luma_html


async def test_json_ld_and_social_tags(client: Client, make_event: MakeEvent) -> None:
    event = await make_event(price_cents=1250, currency="EUR")
    html = (await client.get(f"/events/{event.slug}")).text
    data = json_ld(html)
    assert data["@type"] == "Event" and data["name"] == event.title
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", data["startDate"])
    assert data["startDate"].endswith(("+01:00", "+02:00"))  # Berlin, with its offset
    assert data["endDate"] > data["startDate"]
    assert data["eventStatus"] == "https://schema.org/EventScheduled"
    assert data["eventAttendanceMode"] == "https://schema.org/OfflineEventAttendanceMode"
    assert data["location"]["@type"] == "Place"
    assert data["location"]["address"]["addressLocality"] == "Berlin"
    assert data["organizer"]["name"] == "Berlin Python Community"
    offer = data["offers"]
    assert offer["price"] == "12.50" and offer["priceCurrency"] == "EUR"
    assert offer["availability"] == "https://schema.org/InStock"
    assert offer["url"].endswith(f"/events/{event.slug}") and "validFrom" in offer
    assert data["image"][0].endswith(f"/events/{event.slug}/cover.png")
    assert meta(html, "og:title") == event.title
    assert meta(html, "twitter:card") == "summary_large_image"
    assert meta(html, "og:image").endswith("/cover.png")
    assert meta(html, "description").startswith("Three short talks")
    assert '<link rel="canonical" href="' in html and f'/events/{event.slug}"' in html


async def test_offer_availability_follows_the_seats(
    client: Client, make_event: MakeEvent, registrations: RegistrationService
) -> None:
    event = await make_event(capacity=12, reserve=0)

    async def availability() -> str:
        return json_ld((await client.get(f"/events/{event.slug}")).text)["offers"]["availability"]

    assert await availability() == "https://schema.org/InStock"
    for i in range(9):
        await registrations.register(event.id, name=f"P {i}", email=f"p{i}@example.com")
    assert await availability() == "https://schema.org/LimitedAvailability"
    for i in range(9, 12):
        await registrations.register(event.id, name=f"P {i}", email=f"p{i}@example.com")
    assert await availability() == "https://schema.org/SoldOut"
    html = (await client.get(f"/events/{event.slug}")).text
    assert "Sold out" in html and 'name="email"' not in html  # no form to fill in vain


async def test_online_event_uses_virtual_location(client: Client, make_event: MakeEvent) -> None:
    event = await make_event(online=True)
    data = json_ld((await client.get(f"/events/{event.slug}")).text)
    assert data["eventAttendanceMode"] == "https://schema.org/OnlineEventAttendanceMode"
    assert data["location"]["@type"] == "VirtualLocation"


async def test_page_revalidates_with_etag_and_live_fragment_is_never_cached(
    client: Client, make_event: MakeEvent, registrations: RegistrationService
) -> None:
    event = await make_event()
    first = await client.get(f"/events/{event.slug}")
    etag = first.headers["etag"]
    client.cookies.clear()  # an anonymous visitor holds no session (nor anything personal)
    # Nothing personal on it: shared by browsers and CDNs, revalidated by ETag or date.
    assert first.headers["cache-control"].startswith("public")
    assert "set-cookie" not in first.headers or "csrftoken" not in first.headers["set-cookie"]
    again = await client.get(f"/events/{event.slug}", headers={"if-none-match": etag})
    assert again.status_code == 304 and again.content == b""
    since = first.headers["last-modified"]
    client.cookies.clear()
    dated = await client.get(f"/events/{event.slug}", headers={"if-modified-since": since})
    assert dated.status_code == 304
    # A registration changes what the page shows, so the old copy is no longer valid.
    await registrations.register(event.id, name="Ada", email="ada@example.com")
    changed = await client.get(f"/events/{event.slug}", headers={"if-none-match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag

    live = await client.get(f"/events/{event.slug}/live", headers={"hx-request": "true"})
    assert live.status_code == 200
    assert live.headers["cache-control"] == "no-store"
    assert "etag" not in live.headers
    assert "49 spots left" in live.text and "1 going" in live.text
    assert 'hx-swap-oob="true"' in live.text


async def test_unknown_and_draft_events_are_404(client: Client, make_event: MakeEvent) -> None:
    draft = await make_event(status=EventStatus.DRAFT)
    for path in ("/events/no-such-event", f"/events/{draft.slug}", "/events/" + "x" * 300):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert "couldn" in response.text and 'content="noindex"' in response.text


async def test_cancelled_event_is_410_with_its_page_and_deleted_is_410(
    client: Client, make_event: MakeEvent, session_maker: async_sessionmaker[AsyncSession]
) -> None:
    cancelled = await make_event(theme=Theme.LUMA)
    deleted = await make_event()
    async with session_maker() as session, session.begin():
        await session.execute(
            update(Event)
            .where(Event.id == cancelled.id)
            .values(status=EventStatus.CANCELLED, cancelled_at=datetime.now(UTC))
        )
        await session.execute(
            update(Event).where(Event.id == deleted.id).values(deleted_at=datetime.now(UTC))
        )
    response = await client.get(f"/events/{cancelled.slug}")
    assert response.status_code == 410
    assert "This event has been cancelled" in response.text
    assert json_ld(response.text)["eventStatus"] == "https://schema.org/EventCancelled"
    assert 'name="email"' not in response.text
    gone = await client.get(f"/events/{deleted.slug}")
    assert gone.status_code == 410 and "removed" in gone.text
    listing = (await client.get("/")).text
    assert cancelled.slug not in listing and deleted.slug not in listing


async def test_upcoming_list_in_both_themes(client: Client, make_event: MakeEvent) -> None:
    # Both within three days: the list shows the soonest 60, and other tests' events (a week
    # or more ahead) share this database.
    soon = await make_event(starts_in=timedelta(days=2))
    later = await make_event(starts_in=timedelta(days=3), theme=Theme.LUMA)
    past = await make_event(starts_in=timedelta(days=-5))
    html = (await client.get("/")).text
    assert soon.slug in html and later.slug in html and past.slug not in html
    assert html.index(soon.slug) < html.index(later.slug)
    luma = await client.get("/?theme=luma")
    assert "theme-luma" in luma.text and soon.slug in luma.text
    assert 'rel="canonical" href="http' in luma.text  # one canonical address for both looks


async def test_sitemap_robots_cover_and_calendar(client: Client, make_event: MakeEvent) -> None:
    event = await make_event()
    sitemap = await client.get("/sitemap.xml")
    assert sitemap.status_code == 200 and "xml" in sitemap.headers["content-type"]
    assert f"/events/{event.slug}</loc>" in sitemap.text and "<lastmod>" in sitemap.text
    robots = await client.get("/robots.txt")
    assert "Sitemap: " in robots.text and "Disallow: /tickets/" in robots.text
    cover = await client.get(f"/events/{event.slug}/cover.png")
    assert cover.status_code == 200 and cover.content.startswith(b"\x89PNG")
    assert cover.content[16:24] == (1200).to_bytes(4, "big") + (630).to_bytes(4, "big")
    ics = await client.get(f"/events/{event.slug}/event.ics")
    assert ics.headers["content-type"].startswith("text/calendar")
    assert "BEGIN:VEVENT" in ics.text and event.title in ics.text.replace("\r\n ", "")


async def test_waitlist_mode_offers_the_waitlist_when_full(
    client: Client, make_event: MakeEvent, registrations: RegistrationService
) -> None:
    event = await make_event(capacity=1, reserve=0, mode=SoldOutMode.WAITLIST)
    await registrations.register(event.id, name="First", email="first@example.com")
    html = (await client.get(f"/events/{event.slug}")).text
    assert "Join the waitlist" in html and 'name="email"' in html


async def test_slug_in_other_letter_case_redirects_to_the_canonical_address(
    client: Client, make_event: MakeEvent
) -> None:
    event = await make_event()
    response = await client.get(f"/events/{event.slug.upper()}", follow_redirects=False)
    assert response.status_code == 301
    assert response.headers["location"] == f"/events/{event.slug}"


async def test_head_requests_are_answered(client: Client, make_event: MakeEvent) -> None:
    event = await make_event()
    for path in ("/", f"/events/{event.slug}", "/sitemap.xml", "/robots.txt"):
        response = await client.head(path)
        assert response.status_code == 200, path
        assert response.content == b""
