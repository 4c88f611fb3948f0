"""Group orders and guests, end to end: stand-ins -> pull jobs -> Traffic Cop and ledger.

One person holds one registration whatever the channel; each guest they bring (an extra
ticket of their Eventbrite order, a Meetup +1, a second Luma ticket) holds a seat of its own.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from sqlalchemy import func, select, update

from community.models import Registration
from community.sandbox.meetup import MeetupSandbox
from community.sandbox.shapes import Person
from community.services.door import roster as door_roster
from community.services.people import attendees
from community.services.people.attendees import AttendeeQuery
from community.services.seats.reconcile import compare, reconcile_event
from tests.helpers.mirror import MakeEvent, MirroredEvent, MirrorRig, add, pull_everything


async def active(rig: MirrorRig, event: MirroredEvent) -> list[Registration]:
    async with rig.session_maker() as session:
        rows = await session.scalars(
            select(Registration).where(
                Registration.event_id == event.id, Registration.status == "confirmed"
            )
        )
        return list(rows)


def hosts_and_guests(rows: list[Registration]) -> tuple[list[Registration], list[Registration]]:
    return [r for r in rows if r.guest_of_id is None], [r for r in rows if r.guest_of_id]


def meetup(rig: MirrorRig) -> MeetupSandbox:
    sandbox = rig.sandboxes["meetup"].sandbox
    assert isinstance(sandbox, MeetupSandbox)
    return sandbox


def allow_meetup_guests(rig: MirrorRig, event: MirroredEvent) -> None:
    # The mirror asks Meetup for no new guests; an organiser may have allowed them before.
    meetup(rig).events[event.external("meetup")].guest_limit = 5


async def test_a_three_ticket_eventbrite_order_takes_three_seats(
    rig: MirrorRig, make_event: MakeEvent
) -> None:
    event = await make_event(capacity=20, reserve=5)
    add(rig, event, "eventbrite", Person("Olga Order", "olga@example.org", guests=2))

    await pull_everything(rig, event)

    hosts, guests = hosts_and_guests(await active(rig, event))
    assert [(h.email, h.channel) for h in hosts] == [("olga@example.org", "eventbrite")]
    assert len(guests) == 2 and all(g.guest_of_id == hosts[0].id for g in guests)
    assert all(g.member_id is None and g.seat_no for g in guests)
    assert len({r.seat_no for r in hosts + guests}) == 3
    counts = await rig.registrations.counts(event.id)
    assert (counts.external, counts.shared_left) == (3, 12)

    # Pulled again: nothing changes.
    await pull_everything(rig, event)
    assert len(await active(rig, event)) == 3


async def test_a_meetup_rsvp_with_two_guests_takes_three_and_follows_the_count(
    rig: MirrorRig, make_event: MakeEvent
) -> None:
    event = await make_event(capacity=20, reserve=5)
    allow_meetup_guests(rig, event)
    rsvp = add(rig, event, "meetup", Person("Mia Meetup", member_id="200001", guests=2))

    await pull_everything(rig, event)
    assert (await rig.registrations.counts(event.id)).external == 3
    hosts, guests = hosts_and_guests(await active(rig, event))
    assert len(hosts) == 1 and len(guests) == 2

    # One guest cannot come after all: that seat is released.
    before = datetime.now(UTC)
    meetup(rig).set_guests(event.external("meetup"), rsvp, 1)
    await pull_everything(rig, event)
    hosts, guests = hosts_and_guests(await active(rig, event))
    assert len(hosts) == 1 and len(guests) == 1
    assert (await rig.registrations.counts(event.id)).external == 2
    async with rig.session_maker() as session:
        changed = await door_roster.roster(session, event.id, since=before)
    # The door's roster update carries the new guest count.
    assert [(e.name, e.guests) for e in changed.entries] == [("Mia Meetup", 1)]

    # The member cancels: the guest goes with them.
    meetup(rig).cancel_registration(event.external("meetup"), rsvp)
    await pull_everything(rig, event)
    assert await active(rig, event) == []
    assert (await rig.registrations.counts(event.id)).external == 0


async def test_a_cancelled_eventbrite_order_releases_every_seat(
    rig: MirrorRig, make_event: MakeEvent
) -> None:
    event = await make_event(capacity=20, reserve=5)
    add(rig, event, "eventbrite", Person("Carl Cancel", "carl@example.org", guests=2))
    await pull_everything(rig, event)
    assert len(await active(rig, event)) == 3

    sandbox = rig.sandboxes["eventbrite"].sandbox
    state = sandbox.event_state(event.external("eventbrite"))
    tickets = [r["id"] for r in state["registrations"]]
    sandbox.cancel_registration(event.external("eventbrite"), tickets[2])  # a partial refund
    await pull_everything(rig, event)
    assert (await rig.registrations.counts(event.id)).external == 2

    for ticket in tickets[:2]:
        sandbox.cancel_registration(event.external("eventbrite"), ticket)
    await pull_everything(rig, event)
    assert await active(rig, event) == []
    assert (await rig.registrations.counts(event.id)).external == 0


async def test_one_person_on_two_platforms_holds_one_registration_plus_their_guests(
    rig: MirrorRig, make_event: MakeEvent
) -> None:
    event = await make_event(capacity=20, reserve=5)
    add(rig, event, "eventbrite", Person("Pat Both", "pat@example.org", guests=2))
    add(rig, event, "luma", Person("Pat Both", "Pat@Example.org", guests=1))

    await pull_everything(rig, event)

    hosts, guests = hosts_and_guests(await active(rig, event))
    assert [h.email for h in hosts] == ["pat@example.org"]  # one person, linked
    assert len(guests) == 3 and {g.guest_of_id for g in guests} == {hosts[0].id}
    assert sorted(g.channel for g in guests) == ["eventbrite", "eventbrite", "luma"]
    assert (await rig.registrations.counts(event.id)).external == 4

    # The Luma registration is cancelled: only its guest goes. Pat keeps a place with the
    # two guests of the Eventbrite order, whichever platform their place was recorded from.
    luma = rig.sandboxes["luma"].sandbox
    (guest_id,) = [r["id"] for r in luma.event_state(event.external("luma"))["registrations"]]
    luma.cancel_registration(event.external("luma"), guest_id)
    await pull_everything(rig, event)
    hosts, guests = hosts_and_guests(await active(rig, event))
    assert [(h.email, h.channel) for h in hosts] == [("pat@example.org", "eventbrite")]
    assert sorted(g.channel for g in guests) == ["eventbrite", "eventbrite"]
    assert {g.guest_of_id for g in guests} == {hosts[0].id}
    assert (await rig.registrations.counts(event.id)).external == 3


async def test_a_person_cancelling_their_own_place_keeps_the_seats_bought_elsewhere(
    rig: MirrorRig, make_event: MakeEvent
) -> None:
    event = await make_event(capacity=20, reserve=5)
    native = await rig.registrations.register(event.id, name="Nia Native", email="nia@example.org")
    add(rig, event, "eventbrite", Person("Nia Native", "nia@example.org", guests=1))
    await pull_everything(rig, event)
    hosts, guests = hosts_and_guests(await active(rig, event))
    assert [h.channel for h in hosts] == ["native"] and len(guests) == 1
    assert (await rig.registrations.counts(event.id)).taken == 2

    # Nia cancels on our page; her two Eventbrite tickets still stand there.
    await rig.registrations.cancel(native.ticket_token)

    hosts, guests = hosts_and_guests(await active(rig, event))
    assert [(h.channel, h.email) for h in hosts] == [("eventbrite", "nia@example.org")]
    assert [g.guest_of_id for g in guests] == [hosts[0].id]
    assert (await rig.registrations.counts(event.id)).taken == 2
    await pull_everything(rig, event)  # the next pull finds it as it is
    assert len(await active(rig, event)) == 2


async def test_guest_seats_survive_a_rebuild_from_the_ledger(
    rig: MirrorRig, make_event: MakeEvent
) -> None:
    event = await make_event(capacity=10, reserve=2)
    allow_meetup_guests(rig, event)
    add(rig, event, "eventbrite", Person("Eve Order", "eve@example.org", guests=3))
    add(rig, event, "meetup", Person("Max Meetup", member_id="200002", guests=2))
    add(rig, event, "luma", Person("Lu Luma", "lu@example.org"))
    await pull_everything(rig, event)
    before = await rig.registrations.counts(event.id)
    assert before.external == 8

    snapshot = await rig.registrations.snapshot(event.id)
    assert snapshot is not None and len(snapshot.entries) == 8
    assert not compare(event.id, await rig.inventory.dump(event.id), snapshot, 0).drifted

    await rig.inventory.forget(event.id)
    drift = await reconcile_event(rig.registrations, event.id)

    after = await rig.registrations.counts(event.id)
    assert drift.ledger_places == 8
    assert (after.external, after.free, after.shared_left) == (
        before.external,
        before.free,
        before.shared_left,
    )


async def test_guests_show_on_their_host_in_lists_the_csv_and_at_the_door(
    rig: MirrorRig, make_event: MakeEvent
) -> None:
    event = await make_event(capacity=20, reserve=5)
    add(rig, event, "eventbrite", Person("Gus Group", "gus@example.org", guests=2))
    add(rig, event, "luma", Person("Sol Solo", "sol@example.org"))
    await pull_everything(rig, event)

    async with rig.session_maker() as session:
        rows, total = await attendees.attendee_page(session, event.id, AttendeeQuery())
        counts = await attendees.status_counts(session, event.id)
        csv_text = await attendees.attendee_csv(session, event.event, AttendeeQuery())
        roster = await door_roster.roster(session, event.id)
        gus = next(r for r in rows if r.name == "Gus Group")
        await session.execute(
            update(Registration)
            .where(Registration.id == gus.registration.id)
            .values(checked_in_at=func.now())
        )
        await session.commit()
        door = await door_roster.counts(session, event.id)

    # One row per person; the host carries their guests.
    assert total == 2 and {r.name: r.guests for r in rows} == {"Gus Group": 2, "Sol Solo": 0}
    assert (counts["confirmed"], counts["guests"]) == (2, 2)
    header, *lines = list(csv.reader(io.StringIO(csv_text)))
    table = {line[0]: dict(zip(header, line, strict=True)) for line in lines}
    assert set(table) == {"Gus Group", "Sol Solo"}
    assert (table["Gus Group"]["guests"], table["Sol Solo"]["guests"]) == ("2", "")
    assert {e.name: e.guests for e in roster.entries} == {"Gus Group": 2, "Sol Solo": 0}
    assert (roster.counts.expected, roster.counts.checked_in) == (4, 0)
    # Gus comes in with his guests: three of the four seats are in.
    assert (door.expected, door.checked_in) == (4, 3)
