"""Creating, editing, publishing and cancelling events from the admin, over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from community.config import Settings
from community.controllers.admin.event_form import parse_new_event_form
from community.models import Event, EventStatus
from community.services.events.manage import InvalidInput, slugify
from tests.helpers.admin import EVENT_FORM, MakeEvent, Register, post_admin_form
from tests.helpers.web import take_jobs

Client = AsyncTestClient[Litestar]


def test_form_values_are_read_in_the_events_time_zone() -> None:
    details, seats = parse_new_event_form(EVENT_FORM)
    # 18:30 in Berlin in March (CET, UTC+1) is 17:30 UTC.
    assert details.starts_at == datetime(2031, 3, 5, 17, 30, tzinfo=UTC)
    assert details.price_cents == 1250
    assert details.country == "DE" and details.currency == "EUR"
    assert (seats.capacity, seats.native_reserve) == (100, 40)


def test_every_bad_field_is_named_at_once() -> None:
    bad = {
        **EVENT_FORM,
        "title": " ",
        "ends_at": "2031-03-05T17:00",
        "timezone": "Mars/Olympus",
        "native_reserve": "120",
        "online_url": "javascript:alert(1)",
        "price": "-3",
    }
    try:
        parse_new_event_form(bad)
    except InvalidInput as exc:
        errors = exc.errors
    else:
        raise AssertionError("the form was accepted")
    assert set(errors) == {"title", "ends_at", "timezone", "native_reserve", "online_url", "price"}
    assert errors["ends_at"] == "The event must end after it starts."


def test_slugs_are_ascii_and_short() -> None:
    assert slugify("Café & Crème: Ünïcode night!") == "cafe-creme-unicode-night"
    assert slugify("!!!") == "event"
    assert len(slugify("x" * 300)) == 80


async def test_create_event_then_publish(owner_client: Client, db_session: AsyncSession) -> None:
    # Free: a paid event also needs Stripe configured to publish (tests/payments/test_admin.py).
    free = {**EVENT_FORM, "price": ""}
    response = await post_admin_form(owner_client, "/admin/events", free, follow_redirects=False)
    assert response.status_code in (302, 303), response.text
    event_url = response.headers["location"]
    event = await db_session.scalar(select(Event).where(Event.title == "Python Evening"))
    assert event is not None and event.status == EventStatus.DRAFT
    assert event.slug.startswith("python-evening")
    assert event.theme == "luma" and event.capacity == 100 and event.native_reserve == 40

    page = await owner_client.get(event_url)
    assert "is saved as a draft" in page.text
    assert "Shared seats left" in page.text

    published = await post_admin_form(
        owner_client, f"{event_url}/publish", {}, follow_redirects=False
    )
    assert published.status_code in (302, 303)
    await db_session.refresh(event)
    assert event.status == EventStatus.PUBLISHED and event.published_at is not None


async def test_validation_errors_show_in_place(owner_client: Client) -> None:
    response = await post_admin_form(
        owner_client, "/admin/events", {**EVENT_FORM, "title": "", "native_reserve": "500"}
    )
    assert response.status_code == 422
    assert 'id="e-title"' in response.text and "Title is required." in response.text
    assert "The reserve cannot be more than the capacity (100)." in response.text
    assert 'value="Talks and pizza"' in response.text  # what was typed stays


async def test_publishing_needs_a_place_and_seats(
    owner_client: Client, make_event: MakeEvent, db_session: AsyncSession
) -> None:
    event = await make_event(status=EventStatus.DRAFT, capacity=0, reserve=0)
    page = await post_admin_form(owner_client, f"/admin/events/{event.id}/publish", {})
    assert "Set a capacity of at least 1 before publishing." in page.text
    refreshed = await db_session.get(Event, event.id)
    assert refreshed is not None and refreshed.status == EventStatus.DRAFT


async def test_edit_keeps_the_slug_of_a_published_event(
    owner_client: Client, make_event: MakeEvent, session_maker: Any
) -> None:
    event = await make_event()
    form = await owner_client.get(f"/admin/events/{event.id}/edit")
    assert form.status_code == 200 and 'name="title"' in form.text
    response = await post_admin_form(
        owner_client,
        f"/admin/events/{event.id}/edit",
        {**EVENT_FORM, "title": "Renamed night"},
        follow_redirects=False,
    )
    assert response.status_code in (302, 303)
    async with session_maker() as session:
        saved = await session.get(Event, event.id)
    assert saved.title == "Renamed night" and saved.slug == event.slug


async def test_cancel_needs_the_slug_typed(
    owner_client: Client,
    make_event: MakeEvent,
    session_maker: Any,
    register: Register,
    settings: Settings,
    redis: Redis,
) -> None:
    event = await make_event()
    await register(event, "Ada", "ada@example.com")
    await post_admin_form(owner_client, f"/admin/events/{event.id}/cancel", {"confirm": "nope"})
    async with session_maker() as session:
        assert (await session.get(Event, event.id)).status == EventStatus.PUBLISHED
    assert await take_jobs(settings, redis, "default") == []
    page = await post_admin_form(
        owner_client, f"/admin/events/{event.id}/cancel", {"confirm": event.slug}
    )
    assert "everyone registered is being told by e-mail" in page.text
    async with session_maker() as session:
        cancelled = await session.get(Event, event.id)
    assert cancelled.status == EventStatus.CANCELLED and cancelled.cancelled_at is not None
    # One job tells everyone (it reads who when it runs, in the worker).
    assert await take_jobs(settings, redis, "default") == [
        ("send_event_cancelled_emails", {"event_id": str(event.id)})
    ]
    # Cancelling again tells nobody twice.
    await post_admin_form(owner_client, f"/admin/events/{event.id}/cancel", {"confirm": event.slug})
    assert await take_jobs(settings, redis, "default") == []


async def test_unpublish_is_refused_once_people_registered(
    owner_client: Client, make_event: MakeEvent, register: Register, session_maker: Any
) -> None:
    event = await make_event()
    await register(event, "Grace", "grace@example.com")
    page = await post_admin_form(owner_client, f"/admin/events/{event.id}/unpublish", {})
    assert "cancel the event instead" in page.text
    async with session_maker() as session:
        assert (await session.get(Event, event.id)).status == EventStatus.PUBLISHED


async def test_theme_preview_renders_the_public_page_without_saving(
    owner_client: Client, make_event: MakeEvent, session_maker: Any
) -> None:
    event = await make_event()
    response = await post_admin_form(
        owner_client,
        "/admin/events/preview",
        {**EVENT_FORM, "event_id": str(event.id), "title": "Preview only", "theme": "luma"},
    )
    assert response.status_code == 200
    assert response.text.startswith('<iframe class="preview-frame"')
    assert "Preview only" in response.text and "theme-luma" in response.text
    async with session_maker() as session:
        assert (await session.get(Event, event.id)).title == "Admin test night"
    # Half-typed values never break the preview.
    broken = await post_admin_form(
        owner_client, "/admin/events/preview", {"starts_at": "tomorrow-ish"}
    )
    assert broken.status_code == 200 and "<iframe" in broken.text


async def test_event_list_filters(owner_client: Client, make_event: MakeEvent) -> None:
    draft = await make_event(status=EventStatus.DRAFT, title="Draft only night")
    live = await make_event(title="Live night")
    upcoming = await owner_client.get("/admin/events")
    assert "Live night" in upcoming.text and f"/admin/events/{live.id}" in upcoming.text
    drafts = await owner_client.get("/admin/events?show=drafts")
    assert f"/admin/events/{draft.id}" in drafts.text and "Live night" not in drafts.text
    odd = await owner_client.get("/admin/events?show=<script>")
    assert odd.status_code == 200  # unknown filter: the default list


async def test_unknown_event_is_a_clear_404(owner_client: Client) -> None:
    response = await owner_client.get("/admin/events/01a21b05-c2a1-7781-99b6-5206b507381e")
    assert response.status_code == 404
    assert "There is no such event" in response.text
    bad = await owner_client.get("/admin/events/not-a-uuid")
    assert bad.status_code in (400, 404)
