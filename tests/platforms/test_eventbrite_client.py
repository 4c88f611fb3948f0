"""Eventbrite specifics: min of three capacities, ticket class pushes, continuation,
waypoint echo, unsigned webhooks that point back at the API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from platform_helpers import BASE, Pair, Receiver, make_pair, stand_in_id, sweep

from community.platforms import EventDraft, PlatformNotFound, PlatformRejected, RemoteListingState
from community.platforms.eventbrite import EventbriteClient
from community.sandbox.eventbrite import EventbriteSandbox
from community.sandbox.shapes import Person

AUTH = {"Authorization": "Bearer sandbox-eventbrite-token"}


@pytest.fixture
async def eventbrite() -> AsyncIterator[Pair]:
    pair = await make_pair("eventbrite")
    yield pair
    await pair.client.aclose()
    await pair.sandbox.aclose()


def sandbox_of(pair: Pair) -> EventbriteSandbox:
    assert isinstance(pair.sandbox, EventbriteSandbox)
    return pair.sandbox


def raw(pair: Pair) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=pair.sandbox.app), base_url=BASE, headers=AUTH
    )


@pytest.mark.asyncio
async def test_sellable_is_the_smallest_of_three_capacities(eventbrite: Pair) -> None:
    event_id = eventbrite.seed(limit=10)
    async with raw(eventbrite) as http:
        response = await http.post(f"/v3/events/{event_id}/", json={"event": {"capacity": 4}})
        assert response.status_code == 200

    event = await eventbrite.client.get_event(event_id)
    outcomes = [
        eventbrite.sandbox.add_registration(event_id, Person(f"P{i}", f"p{i}@example.org")).status
        for i in range(5)
    ]

    assert event.capacity == 4
    assert outcomes == ["going"] * 4 + ["refused"]
    assert (
        await eventbrite.client.get_event(event_id)
    ).listing_state is RemoteListingState.SOLD_OUT


@pytest.mark.asyncio
async def test_capacity_tier_below_sold_is_capacity_total_too_small(eventbrite: Pair) -> None:
    event_id = eventbrite.seed(limit=10)
    eventbrite.register(event_id, 3)
    async with raw(eventbrite) as http:
        wrapped = await http.post(
            f"/v3/events/{event_id}/capacity_tier/", json={"capacity_tier": {"capacity_total": 2}}
        )
        unwrapped = await http.post(
            f"/v3/events/{event_id}/capacity_tier/", json={"capacity_total": 5}
        )

    assert wrapped.status_code == 400
    assert wrapped.json()["error"] == "CAPACITY_TOTAL_TOO_SMALL"
    assert unwrapped.status_code == 200 and unwrapped.json()["capacity_total"] == 5
    assert (await eventbrite.client.get_event(event_id)).capacity == 5


@pytest.mark.asyncio
async def test_ticket_class_below_sold_is_rejected(eventbrite: Pair) -> None:
    event_id = eventbrite.seed(limit=10)
    eventbrite.register(event_id, 3)

    with pytest.raises(PlatformRejected) as caught:
        await eventbrite.client.set_limit(event_id, 2)

    assert caught.value.code == "BAD_QUANTITIES"
    assert "already sold" in caught.value.message


@pytest.mark.asyncio
async def test_unknown_fields_are_an_arguments_error(eventbrite: Pair) -> None:
    event_id = eventbrite.seed()
    async with raw(eventbrite) as http:
        response = await http.post(
            f"/v3/events/{event_id}/", json={"event": {"capacity_is_custom": True}}
        )
    assert response.status_code == 400
    assert response.json()["error"] == "ARGUMENTS_ERROR"


@pytest.mark.asyncio
async def test_waypoint_token_is_echoed_after_the_first_answer(eventbrite: Pair) -> None:
    event_id = eventbrite.seed()
    await eventbrite.client.set_limit(event_id, 5)
    calls = eventbrite.sandbox.log.entries()
    assert "waypoint" not in calls[0]
    assert all(call.get("waypoint") for call in calls[1:])


@pytest.mark.asyncio
async def test_changed_since_returns_only_recent_changes(eventbrite: Pair) -> None:
    event_id = eventbrite.seed(limit=20)
    ids = eventbrite.register(event_id, 4)
    for attendee in sandbox_of(eventbrite).events[event_id].attendees.values():
        attendee.changed -= timedelta(hours=2)
    watermark = datetime.now(UTC) - timedelta(minutes=5)
    eventbrite.sandbox.cancel_registration(event_id, ids[2])

    recent, _ = await sweep(eventbrite.client, event_id, changed_since=watermark)
    everything, _ = await sweep(eventbrite.client, event_id)

    assert [(stand_in_id(r), r.status) for r in recent] == [(ids[2], "cancelled")]
    assert len(everything) == 4


@pytest.mark.asyncio
async def test_continuation_pages_and_bad_token() -> None:
    pair = await make_pair("eventbrite", {"page_size": 3})
    event_id = pair.seed(limit=20)
    ids = pair.register(event_id, 7)

    items, pages = await sweep(pair.client, event_id)

    assert pages == 3 and sorted(stand_in_id(r) for r in items) == sorted(ids)
    assert items[0].email == "person0@example.org"
    assert items[0].member_external_id == "person0@example.org"
    with pytest.raises(PlatformRejected) as caught:
        await pair.client.list_registrations(event_id, "not-a-token")
    assert caught.value.code == "BAD_CONTINUATION_TOKEN"


@pytest.mark.asyncio
async def test_check_in_is_read_back_from_the_barcode(eventbrite: Pair) -> None:
    event_id = eventbrite.seed()
    (attendee,) = eventbrite.register(event_id, 1)
    eventbrite.sandbox.check_in(event_id, attendee)

    (registration,), _ = await sweep(eventbrite.client, event_id)

    assert registration.status == "going"
    assert registration.checked_in_at is not None


@pytest.mark.asyncio
async def test_webhook_points_at_the_api_and_is_fetched_with_the_token() -> None:
    receiver = Receiver()
    pair = await make_pair("eventbrite", {"webhook_transport": httpx.ASGITransport(app=receiver)})
    assert isinstance(pair.client, EventbriteClient)
    event_id = pair.seed(limit=5)
    await pair.client.register_webhook(
        "http://dashboard.test/hooks/eventbrite", ["order.placed", "attendee.updated"]
    )

    outcome = pair.sandbox.add_registration(event_id, Person("Hook Person", "hook@example.org"))
    assert outcome.id is not None
    pair.sandbox.cancel_registration(event_id, outcome.id)
    await pair.sandbox.webhooks.drain()

    placed, updated = receiver.bodies
    assert placed["config"]["action"] == "order.placed"
    assert updated["config"]["action"] == "attendee.updated"
    assert "x-signature" not in receiver.headers[0]  # Eventbrite signs nothing
    (from_order,) = await pair.client.registrations_from_webhook(placed["api_url"])
    (from_attendee,) = await pair.client.registrations_from_webhook(updated["api_url"])
    # The hook is only a hint: what is fetched is the current state (cancelled by now).
    assert (stand_in_id(from_order), from_order.email) == (outcome.id, "hook@example.org")
    assert from_attendee.external_id == from_order.external_id
    assert (stand_in_id(from_attendee), from_attendee.status) == (outcome.id, "cancelled")
    with pytest.raises(PlatformRejected):
        await pair.client.registrations_from_webhook("http://evil.test/v3/orders/1/")


@pytest.mark.asyncio
async def test_create_event_adds_a_ticket_class_and_publishes(eventbrite: Pair) -> None:
    start = datetime(2031, 7, 1, 17, 0, tzinfo=UTC)
    draft = EventDraft(
        title="Summer social",
        description="Drinks.\n\nGames.",
        starts_at=start,
        ends_at=start + timedelta(hours=3),
        timezone="Europe/Berlin",
        capacity=25,
        venue_name="Beer garden",
        address="Park 1",
        city="Berlin",
        country="DE",
    )

    event = await eventbrite.client.create_event(draft)

    assert (event.title, event.capacity, event.status) == ("Summer social", 25, "live")
    assert (event.venue_name, event.city, event.timezone) == (
        "Beer garden",
        "Berlin",
        "Europe/Berlin",
    )
    assert event.starts_at == start
    assert (await eventbrite.client.set_limit(event.external_id, 20)).limit == 20


@pytest.mark.asyncio
async def test_managed_ticket_class_is_chosen_again_after_deletion(eventbrite: Pair) -> None:
    event_id = eventbrite.seed(limit=10)
    await eventbrite.client.set_limit(event_id, 9)
    event = sandbox_of(eventbrite).events[event_id]
    event.ticket_classes.clear()  # deleted in Eventbrite's own UI

    with pytest.raises(PlatformNotFound):
        await eventbrite.client.set_limit(event_id, 8)

    async with raw(eventbrite) as http:
        created = await http.post(
            f"/v3/events/{event_id}/ticket_classes/",
            json={"ticket_class": {"name": "Standard", "free": True, "quantity_total": 5}},
        )
    assert created.status_code == 200
    assert (await eventbrite.client.set_limit(event_id, 8)).limit == 8
    assert event.ticket_classes[created.json()["id"]].capacity == 8
