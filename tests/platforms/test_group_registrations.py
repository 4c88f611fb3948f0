"""Group registrations as the platforms count them: Eventbrite orders of several tickets,
Meetup RSVPs with guests, Luma guests with several tickets. The stand-ins count seats the way
each platform does, and each client turns a group into one person taking several seats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from platform_helpers import BASE, Pair, make_pair, stand_in_id, sweep

from community.sandbox.eventbrite import EventbriteSandbox
from community.sandbox.meetup import MeetupSandbox
from community.sandbox.shapes import Person


@pytest.mark.asyncio
async def test_a_person_with_two_guests_is_one_registration_of_three_seats(pair: Pair) -> None:
    event_id = pair.seed(limit=10)
    pair.register(event_id, 1, prefix="Solo")
    group = pair.sandbox.add_registration(
        event_id, Person("Grace Group", "grace@example.org", "grace-1", guests=2)
    )
    assert group.status == "going" and group.id is not None

    items, _ = await sweep(pair.client, event_id)

    by_id = {stand_in_id(r): r for r in items}
    assert len(items) == 2
    assert (by_id[group.id].seats, by_id[group.id].seats_exact) == (3, True)
    assert by_id[group.id].email in (None, "grace@example.org")
    # The platform's own count of people going counts the guests, as the platform does.
    assert pair.state(event_id)["going"] == 4
    assert (await pair.client.get_event(event_id)).going_count == 4


@pytest.mark.asyncio
async def test_a_group_that_does_not_fit_is_not_taken_by_halves(pair: Pair) -> None:
    event_id = pair.seed(limit=3, waitlist=False)
    pair.register(event_id, 1)

    group = Person("Big Group", "big@example.org", guests=2)
    outcome = pair.sandbox.add_registration(event_id, group)

    assert outcome.status != "going"
    assert pair.state(event_id)["going"] == 1


@pytest.mark.asyncio
async def test_eventbrite_orders_cut_by_a_page_end_are_read_whole() -> None:
    pair = await make_pair("eventbrite", {"page_size": 2})
    sandbox = pair.sandbox
    assert isinstance(sandbox, EventbriteSandbox)
    event_id = pair.seed(limit=50)
    for n in range(3):
        person = Person(f"Buyer {n}", f"buyer{n}@example.org", guests=2)
        assert sandbox.add_registration(event_id, person).status == "going"

    items, pages = await sweep(pair.client, event_id)

    assert pages == 5  # nine tickets, two per page
    assert sorted(r.email or "" for r in items) == [f"buyer{n}@example.org" for n in range(3)]
    assert [r.seats for r in items] == [3, 3, 3]
    assert all(r.seats_exact and len(r.aliases) == 3 for r in items)
    assert sum(tc.sold for tc in sandbox.events[event_id].ticket_classes.values()) == 9
    await pair.client.aclose()


@pytest.mark.asyncio
async def test_eventbrite_increments_never_undercount_an_order() -> None:
    pair = await make_pair("eventbrite")
    sandbox = pair.sandbox
    assert isinstance(sandbox, EventbriteSandbox)
    event_id = pair.seed(limit=50)
    assert sandbox.add_registration(event_id, Person("O", "o@example.org", guests=2)).id
    tickets = list(sandbox.events[event_id].attendees)
    for attendee in sandbox.events[event_id].attendees.values():
        attendee.changed -= timedelta(hours=2)
    watermark = datetime.now(UTC) - timedelta(minutes=5)

    # One ticket of the three checks in: the increment shows that ticket only.
    sandbox.check_in(event_id, tickets[0])
    (seen,), _ = await sweep(pair.client, event_id, changed_since=watermark)
    assert (seen.seats, seen.seats_exact) == (1, False)  # a lower bound, never a release

    # One ticket is refunded: the client reads the order whole.
    sandbox.cancel_registration(event_id, tickets[2])
    after, _ = await sweep(pair.client, event_id, changed_since=watermark)
    assert [(r.status, r.seats, r.seats_exact) for r in after] == [("going", 2, True)]
    assert after[0].external_id == seen.external_id
    await pair.client.aclose()


@pytest.mark.asyncio
async def test_meetup_guests_count_against_the_limit_and_can_change() -> None:
    pair = await make_pair("meetup")
    sandbox = pair.sandbox
    assert isinstance(sandbox, MeetupSandbox)
    event_id = pair.seed(limit=4)
    rsvp = sandbox.add_registration(event_id, Person("Mo", member_id="m-1", guests=2))
    assert rsvp.id is not None and rsvp.status == "going"
    assert sandbox.add_registration(event_id, Person("Ed", member_id="m-2")).status == "going"
    # 4 spots taken by two members: the next one waits.
    assert sandbox.add_registration(event_id, Person("Al", member_id="m-3")).status == "waitlist"
    assert (await pair.client.get_event(event_id)).going_count == 4

    sandbox.set_guests(event_id, rsvp.id, 1)

    state = pair.state(event_id)
    assert (state["going"], state["waitlist"]) == (4, 0)  # Al took the freed spot
    items, _ = await sweep(pair.client, event_id)
    assert {r.member_external_id: r.seats for r in items if r.status == "going"} == {
        "m-1": 2,
        "m-2": 1,
        "m-3": 1,
    }
    refused = sandbox.add_registration(event_id, Person("Many", member_id="m-4", guests=3))
    assert refused.status == "refused"  # more guests than the event allows
    await pair.client.aclose()


@pytest.mark.asyncio
async def test_guests_through_the_control_api_are_checked() -> None:
    pair = await make_pair("meetup")
    event_id = pair.seed(limit=10)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=pair.sandbox.app), base_url=BASE
    ) as http:
        url = f"/_sandbox/events/{event_id}/registrations"
        bad = await http.post(url, json={"name": "A", "member_id": "1", "guests": -1})
        good = await http.post(url, json={"name": "B", "member_id": "2", "guests": 2})
    assert bad.status_code == 400 and "guests" in bad.text
    assert good.status_code == 201
    assert pair.state(event_id)["going"] == 3
    await pair.client.aclose()
