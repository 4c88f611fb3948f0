"""Meetup specifics: rsvpLimit 0 = unlimited, AUTO waitlist, close/open, GraphQL errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from platform_helpers import BASE, Pair, make_pair, people, sweep

from community.platforms import (
    EventDraft,
    NotSupported,
    PlatformRateLimited,
    PlatformRejected,
    RemoteListingState,
)
from community.platforms.meetup import MeetupClient
from community.sandbox.meetup import MeetupSandbox
from community.sandbox.shapes import Person

AUTH = {"Authorization": "Bearer sandbox-meetup-token"}
EDIT_ERRORS_ONLY = "mutation($i: EditEventInput!) { editEvent(input: $i) { errors { code } } }"


@pytest.fixture
async def meetup() -> Pair:
    return await make_pair("meetup", page_size=2)


def sandbox_of(pair: Pair) -> MeetupSandbox:
    assert isinstance(pair.sandbox, MeetupSandbox)
    return pair.sandbox


@pytest.mark.asyncio
async def test_zero_limit_means_unlimited_on_meetup(meetup: Pair) -> None:
    event_id = meetup.seed(limit=None)
    meetup.register(event_id, 5)

    event = await meetup.client.get_event(event_id)

    assert event.capacity is None and event.going_count == 5
    assert event.listing_state is RemoteListingState.OPEN


@pytest.mark.asyncio
async def test_limit_zero_closes_rsvps_instead_of_removing_the_limit(meetup: Pair) -> None:
    event_id = meetup.seed(limit=10)

    result = await meetup.client.set_limit(event_id, 0)

    assert result.state is RemoteListingState.SOLD_OUT
    assert meetup.state(event_id)["open"] is False
    assert (
        meetup.sandbox.add_registration(event_id, Person("X", "x@example.org")).status == "refused"
    )


@pytest.mark.asyncio
async def test_raising_the_limit_promotes_the_auto_waitlist(meetup: Pair) -> None:
    event_id = meetup.seed(limit=2, waitlist=True)
    outcomes = [meetup.sandbox.add_registration(event_id, p).status for p in people(4)]
    assert outcomes == ["going", "going", "waitlist", "waitlist"]

    result = await meetup.client.set_limit(event_id, 3)

    assert (result.going_count, result.state) == (3, RemoteListingState.WAITLIST)
    event = await meetup.client.get_event(event_id)
    assert (event.going_count, event.waitlist_count) == (3, 1)


@pytest.mark.asyncio
async def test_waitlist_off_refuses_past_the_limit(meetup: Pair) -> None:
    event_id = meetup.seed(limit=1, waitlist=False)
    meetup.register(event_id, 1)

    outcome = meetup.sandbox.add_registration(event_id, Person("Two", "two@example.org"))
    event = await meetup.client.get_event(event_id)

    assert outcome.status == "refused"
    assert event.listing_state is RemoteListingState.SOLD_OUT


@pytest.mark.asyncio
async def test_closing_keeps_the_limit_so_reopening_is_never_unlimited(meetup: Pair) -> None:
    event_id = meetup.seed(limit=8)
    meetup.register(event_id, 2)

    await meetup.client.set_state(event_id, RemoteListingState.SOLD_OUT, 2)
    assert meetup.state(event_id)["limit"] == 8  # the stand-in wiped it; the client re-applied

    reopened = await meetup.client.set_state(event_id, RemoteListingState.OPEN, 2)

    assert (reopened.limit, reopened.state) == (8, RemoteListingState.OPEN)
    assert meetup.state(event_id)["open"] is True


@pytest.mark.asyncio
async def test_waitlist_from_closed_opens_with_the_limit_applied(meetup: Pair) -> None:
    event_id = meetup.seed(limit=8, waitlist=True)
    meetup.register(event_id, 2)
    await meetup.client.set_state(event_id, RemoteListingState.SOLD_OUT, 2)

    result = await meetup.client.set_state(event_id, RemoteListingState.WAITLIST, 2)

    assert (result.limit, result.state) == (2, RemoteListingState.WAITLIST)
    assert meetup.state(event_id)["open"] is True


@pytest.mark.asyncio
async def test_waitlist_with_nobody_going_falls_back_to_closing(meetup: Pair) -> None:
    event_id = meetup.seed(limit=8)
    result = await meetup.client.set_state(event_id, RemoteListingState.WAITLIST, 0)
    assert result.state is RemoteListingState.SOLD_OUT
    assert meetup.state(event_id)["open"] is False


@pytest.mark.asyncio
async def test_limit_below_yes_count_can_be_rejected() -> None:
    pair = await make_pair("meetup", {"lower_below_yes": "reject"})
    event_id = pair.seed(limit=10)
    pair.register(event_id, 4)

    with pytest.raises(PlatformRejected) as caught:
        await pair.client.set_limit(event_id, 2)

    assert caught.value.code == "RSVP_LIMIT_TOO_LOW"
    assert "lower than" in caught.value.message
    assert pair.state(event_id)["limit"] == 10


@pytest.mark.asyncio
async def test_incremental_sweep_stops_at_already_seen_updates(meetup: Pair) -> None:
    event_id = meetup.seed(limit=50)
    ids = meetup.register(event_id, 5)
    for rsvp in sandbox_of(meetup).events[event_id].rsvps.values():
        rsvp.updated -= timedelta(hours=1)  # seen in an earlier sweep
    watermark = datetime.now(UTC) - timedelta(minutes=1)
    meetup.sandbox.cancel_registration(event_id, ids[1])

    items, pages = await sweep(meetup.client, event_id, changed_since=watermark)

    assert [(r.external_id, r.status) for r in items] == [(ids[1], "cancelled")]
    assert pages == 1


@pytest.mark.asyncio
async def test_graphql_rate_limit_uses_reset_at_with_200_or_429() -> None:
    for status in (200, 429):
        pair = await make_pair("meetup", {"rate_limit_status": status})
        pair.sandbox.budget.configure(limit=0, window_s=40)
        with pytest.raises(PlatformRateLimited) as caught:
            await pair.client.whoami()
        assert 35 <= caught.value.retry_after <= 41  # resetAt is rounded up to a second
        assert caught.value.code == "RATE_LIMITED"


@pytest.mark.asyncio
async def test_create_event_needs_a_group_and_then_creates() -> None:
    start = datetime(2031, 6, 1, 16, 0, tzinfo=UTC)
    draft = EventDraft(
        title="Created here",
        description="From the dashboard.",
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        timezone="UTC",
        capacity=30,
    )
    pair = await make_pair("meetup")
    with pytest.raises(NotSupported):
        await pair.client.create_event(draft)

    client = MeetupClient(
        BASE,
        "sandbox-meetup-token",
        group_urlname="sandbox-community",
        transport=httpx.ASGITransport(app=pair.sandbox.app),
    )
    event = await client.create_event(draft)

    assert (event.title, event.capacity, event.starts_at) == ("Created here", 30, start)
    assert event.ends_at == start + timedelta(hours=2)
    await client.aclose()


@pytest.mark.asyncio
async def test_stand_in_validates_queries_against_the_current_schema(meetup: Pair) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=meetup.sandbox.app), base_url=BASE
    ) as http:
        # Old-schema fields are gone from gql-ext; asking for one fails even for a null event.
        old = await http.post(
            "/gql-ext", json={"query": "{ event(id: 1) { going } }"}, headers=AUTH
        )
        wrong_input = await http.post(
            "/gql-ext",
            json={
                "query": EDIT_ERRORS_ONLY,
                "variables": {"i": {"id": "1", "rsvpSettings": {"limit": 3}}},
            },
            headers=AUTH,
        )
        deprecated = await http.post("/gql", json={"query": "{ self { id } }"}, headers=AUTH)

    assert old.status_code == 400
    assert 'Cannot query field "going"' in old.json()["errors"][0]["message"]
    assert wrong_input.status_code == 400
    assert (
        '"id" is not defined by type "EditEventInput"' in wrong_input.json()["errors"][0]["message"]
    )
    assert deprecated.status_code == 503
    assert "deprecated" in deprecated.json()["message"]


@pytest.mark.asyncio
async def test_reopen_without_a_limit(meetup: Pair) -> None:
    event_id = meetup.seed(limit=None)
    untouched = await meetup.client.set_state(event_id, RemoteListingState.OPEN, 0)
    assert (untouched.limit, untouched.state) == (None, RemoteListingState.OPEN)

    await meetup.client.set_state(event_id, RemoteListingState.SOLD_OUT, 0)

    with pytest.raises(ValueError, match="needs the limit"):
        await meetup.client.set_state(event_id, RemoteListingState.OPEN, 0)
    assert meetup.state(event_id)["open"] is False  # never opened without a limit


def test_only_https_photos_of_a_sane_length_are_kept() -> None:
    from community.platforms.base import MAX_PHOTO_URL, photo_url

    good = "https://photos.example.org/member/1/thumb.jpeg"
    assert photo_url(good) == good
    for bad in (None, 42, "http://photos.example.org/a.jpeg", "javascript:alert(1)", ""):
        assert photo_url(bad) is None
    assert photo_url("https://x.example/" + "a" * MAX_PHOTO_URL) is None
