"""Luma specifics: no capacity on read, waitlist past max_capacity, one calendar per key,
``{type, data}`` webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from platform_helpers import BASE, Pair, Receiver, make_pair, new_client, sweep

from community.platforms import EventDraft, PlatformNotFound, PlatformRejected, RemoteListingState
from community.platforms.luma import LumaClient
from community.sandbox.shapes import Person


@pytest.fixture
async def luma() -> AsyncIterator[Pair]:
    pair = await make_pair("luma", page_size=2)
    yield pair
    await pair.client.aclose()
    await pair.sandbox.aclose()


@pytest.mark.asyncio
async def test_get_event_never_exposes_capacity(luma: Pair) -> None:
    event_id = luma.seed(limit=3)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=luma.sandbox.app),
        base_url=BASE,
        headers={"x-luma-api-key": "sandbox-luma-key"},
    ) as http:
        body = (await http.get("/v1/events/get", params={"event_id": event_id})).json()

    assert body["id"] == event_id and body["platform"] == "luma"
    assert not {"max_capacity", "guest_count", "capacity"} & set(body)


@pytest.mark.asyncio
async def test_waitlist_past_capacity_and_counts_from_the_guest_list(luma: Pair) -> None:
    event_id = luma.seed(limit=2, waitlist=True)
    statuses = [
        luma.sandbox.add_registration(event_id, Person(f"G{i}", f"g{i}@example.org")).status
        for i in range(4)
    ]

    event = await luma.client.get_event(event_id)
    items, _ = await sweep(luma.client, event_id)

    assert statuses == ["going", "going", "waitlist", "waitlist"]
    assert (event.going_count, event.waitlist_count) == (2, 2)
    assert sorted(r.status for r in items) == ["going", "going", "waitlist", "waitlist"]


@pytest.mark.asyncio
async def test_sold_out_without_waitlist_refuses(luma: Pair) -> None:
    event_id = luma.seed(limit=10, waitlist=False)
    luma.register(event_id, 2)

    result = await luma.client.set_state(event_id, RemoteListingState.SOLD_OUT, 1)

    assert (result.limit, result.state) == (
        2,
        RemoteListingState.SOLD_OUT,
    )  # never below Luma's count
    assert luma.sandbox.add_registration(event_id, Person("Z", "z@example.org")).status == "refused"


@pytest.mark.asyncio
async def test_a_key_sees_only_its_own_calendar() -> None:
    pair = await make_pair("luma", {"other_keys": {"other-calendar-key": "cal-other"}})
    event_id = pair.seed()
    outsider = new_client(pair.sandbox, token="other-calendar-key")

    with pytest.raises(PlatformNotFound):
        await outsider.get_event(event_id)
    with pytest.raises(PlatformNotFound):
        await outsider.set_limit(event_id, 5)
    await outsider.aclose()
    assert pair.state(event_id)["limit"] is None


@pytest.mark.asyncio
async def test_page_size_is_capped_by_the_server() -> None:
    pair = await make_pair("luma", page_size=500)
    event_id = pair.seed()
    pair.register(event_id, 101)

    first = await pair.client.list_registrations(event_id)

    assert len(first.items) == 100 and first.next_cursor is not None
    rest = await pair.client.list_registrations(event_id, first.next_cursor)
    assert len(rest.items) == 1 and rest.next_cursor is None


@pytest.mark.asyncio
async def test_check_in_time_comes_from_the_ticket(luma: Pair) -> None:
    event_id = luma.seed()
    (guest,) = luma.register(event_id, 1)
    luma.sandbox.check_in(event_id, guest)

    (registration,), _ = await sweep(luma.client, event_id)

    assert registration.checked_in_at is not None
    assert registration.email == "person0@example.org"


@pytest.mark.asyncio
async def test_guest_webhooks_carry_type_and_data_and_optional_signature() -> None:
    receiver = Receiver()
    pair = await make_pair(
        "luma",
        {"webhook_transport": httpx.ASGITransport(app=receiver), "signature_header": "x-sig"},
    )
    assert isinstance(pair.client, LumaClient)
    event_id = pair.seed(limit=5)
    hook = await pair.client.register_webhook(
        "http://dashboard.test/hooks/luma", ["guest.registered"]
    )

    pair.sandbox.add_registration(event_id, Person("Web Hook", "web@example.org"))
    await pair.sandbox.webhooks.drain()

    (body,) = receiver.bodies
    assert body["type"] == "guest.registered"
    assert body["data"]["user_email"] == "web@example.org"
    assert body["data"]["event"]["id"] == event_id
    expected = hmac.new(hook["secret"].encode(), json.dumps(body).encode(), hashlib.sha256)
    assert receiver.headers[0]["x-sig"] == expected.hexdigest()


@pytest.mark.asyncio
async def test_create_event_and_rejection_of_bad_input(luma: Pair) -> None:
    start = datetime(2031, 8, 1, 18, 0, tzinfo=UTC)
    draft = EventDraft(
        title="Launch party",
        description="**Bold** plans.",
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        timezone="Europe/Paris",
        capacity=40,
        venue_name="Rooftop",
    )

    event = await luma.client.create_event(draft)

    assert (event.title, event.description, event.capacity) == (
        "Launch party",
        "**Bold** plans.",
        40,
    )
    assert event.external_id.startswith("evt-") and event.venue_name == "Rooftop"
    with pytest.raises(PlatformRejected) as caught:
        await luma.client.create_event(
            EventDraft("Bad", "", start, start + timedelta(hours=1), "Mars/Olympus")
        )
    assert "timezone" in caught.value.message


@pytest.mark.asyncio
async def test_a_push_costs_two_calls() -> None:
    pair = await make_pair("luma")  # guests counted in one page
    try:
        event_id = pair.seed(waitlist=True)
        pair.register(event_id, 5)
        pair.sandbox.log.clear()
        opened = await pair.client.set_limit(event_id, 12)
        assert (opened.limit, opened.going_count, opened.state) == (12, 5, RemoteListingState.OPEN)
        assert [c["path"] for c in pair.sandbox.log.entries()] == [
            "/v1/events/update",
            "/v1/events/guests/list",
        ]
        pair.sandbox.log.clear()
        closed = await pair.client.set_state(event_id, RemoteListingState.WAITLIST, 4)
        assert (closed.limit, closed.going_count, closed.state) == (
            5,
            5,
            RemoteListingState.WAITLIST,
        )
        assert len(pair.sandbox.log.entries()) == 2
        assert pair.state(event_id)["limit"] == 5
    finally:
        await pair.client.aclose()
        await pair.sandbox.aclose()


@pytest.mark.asyncio
async def test_a_public_link_slug_is_found_among_the_calendars_events(luma: Pair) -> None:
    event_ids = [luma.seed(title=f"Night {i}") for i in range(5)]
    wanted = luma.sandbox.events[event_ids[3]]  # type: ignore[attr-defined]
    assert isinstance(luma.client, LumaClient)
    assert await luma.client.find_event_by_slug(wanted.slug) == event_ids[3]
    assert await luma.client.find_event_by_slug("no-such-night") is None
