"""Attendees (filters, CSV, cancel, promote) and member profiles (merge, unmerge)."""

from __future__ import annotations

import csv
import io
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from community.config import Settings
from community.models import (
    Event,
    Member,
    MemberIdentity,
    Registration,
    RegistrationStatus,
    SoldOutMode,
)
from community.services.people.merge import (
    MergeError,
    merge_members,
    merged_into,
    merged_parts,
    unmerge_member,
)
from community.services.seats.inventory import InventorySettings
from community.services.seats.registrations import RegistrationService
from tests.helpers.admin import MakeEvent, Register
from tests.helpers.web import csrf_token, take_ticket_mails

Client = AsyncTestClient[Litestar]


async def post(client: Client, url: str, data: dict[str, str] | None = None) -> Any:
    token = await csrf_token(client)
    return await client.post(
        url, data=data or {}, headers={"x-csrftoken": token}, follow_redirects=True
    )


async def member_of(session: AsyncSession, registration_id: Any) -> Member:
    reg = await session.get(Registration, registration_id)
    assert reg is not None
    member = await session.get(Member, reg.member_id)
    assert member is not None
    return member


async def test_attendee_list_search_and_filters(
    organiser_client: Client, make_event: MakeEvent, register: Register
) -> None:
    event = await make_event(capacity=2, reserve=1)
    await register(event, "Ada Lovelace", "ada@example.com")
    await register(event, "Lin Meetup", None, channel="meetup")
    await register(event, "Wait Ing", "wait@example.com")  # full: waitlist
    url = f"/admin/events/{event.id}/attendees"

    everyone = await organiser_client.get(url)
    assert everyone.status_code == 200
    for name in ("Ada Lovelace", "Lin Meetup", "Wait Ing"):
        assert name in everyone.text
    assert "3 people" in everyone.text

    search = await organiser_client.get(url, params={"q": "lovelace"})
    assert "1 person" in search.text and "Lin Meetup" not in search.text
    meetup = await organiser_client.get(url, params={"channel": "meetup"})
    assert "Lin Meetup" in meetup.text and "Ada Lovelace" not in meetup.text
    waiting = await organiser_client.get(url, params={"status": "waitlisted"})
    assert "Wait Ing" in waiting.text and "Ada Lovelace" not in waiting.text
    # htmx asks for the results only, for the search-as-you-type box.
    partial = await organiser_client.get(
        url, params={"q": "ada"}, headers={"hx-request": "true", "hx-target": "attendee-results"}
    )
    assert partial.text.lstrip().startswith('<div id="attendee-results">')
    odd = await organiser_client.get(
        url, params={"status": "nope", "channel": "x", "page_no": "-5"}
    )
    assert odd.status_code == 200 and "3 people" in odd.text


async def test_csv_export(organiser_client: Client, make_event: MakeEvent, register: Register):
    event = await make_event()
    await register(event, "=HYPERLINK(evil)", "x@example.com")
    await register(event, "Luma Guest", "guest@example.com", channel="luma")
    response = await organiser_client.get(f"/admin/events/{event.id}/attendees.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [r["name"] for r in rows] == ["'=HYPERLINK(evil)", "Luma Guest"]  # no formula
    assert rows[1]["channel"] == "luma" and rows[1]["status"] == "confirmed"
    assert rows[1]["email"] == "guest@example.com" and rows[1]["seat"]
    only_luma = await organiser_client.get(
        f"/admin/events/{event.id}/attendees.csv", params={"channel": "luma"}
    )
    assert len(only_luma.text.strip().splitlines()) == 2


async def test_cancel_gives_the_seat_to_the_waitlist(
    organiser_client: Client,
    make_event: MakeEvent,
    register: Register,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
) -> None:
    event = await make_event(capacity=1, reserve=0)
    first = await register(event, "First", "first@example.com")
    second = await register(event, "Second", "second@example.com")
    page = await post(
        organiser_client, f"/admin/events/{event.id}/registrations/{first.registration_id}/cancel"
    )
    assert "Cancelled First." in page.text and "1 from the waitlist got the seat." in page.text
    moved = await db_session.get(Registration, second.registration_id)
    assert moved is not None and moved.status == RegistrationStatus.CONFIRMED
    # The person seated gets their ticket, once.
    assert await take_ticket_mails(settings, redis) == [(str(second.registration_id), "promoted")]
    again = await post(
        organiser_client, f"/admin/events/{event.id}/registrations/{first.registration_id}/cancel"
    )
    assert "already cancelled" in again.text


async def test_promote_needs_a_free_seat(
    organiser_client: Client,
    make_event: MakeEvent,
    register: Register,
    registrations: RegistrationService,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
) -> None:
    event = await make_event(capacity=1, reserve=0)
    await register(event, "Seated", "seated@example.com")
    waiting = await register(event, "Waiting", "waiting@example.com")
    url = f"/admin/events/{event.id}/registrations/{waiting.registration_id}/promote"
    full = await post(organiser_client, url)
    assert "No seat is free for them." in full.text
    assert await take_ticket_mails(settings, redis) == []
    # A seat appears without the automatic promotion running (as between two steps of
    # another organiser's change): the organiser seats this person by hand.
    await db_session.execute(update(Event).where(Event.id == event.id).values(capacity=2))
    await db_session.commit()
    await registrations.inventory.configure(
        event.id, InventorySettings(capacity=2, reserve=0, mode=SoldOutMode.WAITLIST)
    )
    page = await post(organiser_client, url)
    assert "Waiting moved up from the waitlist and holds seat 2." in page.text
    reg = await db_session.get(Registration, waiting.registration_id)
    await db_session.refresh(reg)
    assert reg.status == RegistrationStatus.CONFIRMED and reg.seat_no == 2
    assert await take_ticket_mails(settings, redis) == [(str(waiting.registration_id), "promoted")]
    again = await post(organiser_client, url)
    assert "Only someone on the waitlist can be promoted." in again.text
    assert await take_ticket_mails(settings, redis) == []


async def test_merge_and_unmerge_profiles(
    make_event: MakeEvent, register: Register, session_maker: Any
) -> None:
    one, two = await make_event(), await make_event()
    native = await register(one, "Sam Native", "sam@example.com")
    meetup = await register(two, "Sam M.", None, channel="meetup")
    async with session_maker() as session:
        keep = await member_of(session, native.registration_id)
        other = await member_of(session, meetup.registration_id)
        result = await merge_members(session, keep.id, other.id)
        await session.commit()
        assert result.identities_moved >= 1 and result.registrations_moved == 1
        assert result.event_ids == {two.id}
    async with session_maker() as session:
        regs = list(
            await session.scalars(select(Registration).where(Registration.member_id == keep.id))
        )
        assert {r.event_id for r in regs} == {one.id, two.id}
        assert await merged_into(session, other.id) == keep.id
        parts = await merged_parts(session, keep.id)
        assert [p.original_id for p in parts] == [other.id] and parts[0].registrations == 1
        back = await unmerge_member(session, keep.id, other.id)
        await session.commit()
        assert back.registrations_moved == 1
    async with session_maker() as session:
        reg = await session.get(Registration, meetup.registration_id)
        assert reg.member_id == other.id and reg.original_member_id is None
        platforms = set(
            await session.scalars(
                select(MemberIdentity.platform).where(MemberIdentity.member_id == other.id)
            )
        )
        assert "meetup" in platforms
        assert await merged_parts(session, keep.id) == []


async def test_merge_refuses_two_places_at_one_event(
    make_event: MakeEvent, register: Register, session_maker: Any
) -> None:
    event = await make_event()
    a = await register(event, "Alex", "alex@example.com")
    b = await register(event, "Alex again", "alex2@example.com")
    async with session_maker() as session:
        first = await member_of(session, a.registration_id)
        second = await member_of(session, b.registration_id)
        try:
            await merge_members(session, first.id, second.id)
        except MergeError as exc:
            assert "Both profiles hold a place at" in str(exc)
        else:
            raise AssertionError("merged two places at one event")
        try:
            await merge_members(session, first.id, first.id)
        except MergeError as exc:
            assert "two different profiles" in str(exc)


async def test_merge_from_the_profile_page(
    organiser_client: Client, make_event: MakeEvent, register: Register, session_maker: Any
) -> None:
    one, two = await make_event(), await make_event()
    a = await register(one, "Robin Banks", "robin@example.com")
    b = await register(two, "Robin B", "robin.b@example.com", channel="eventbrite")
    async with session_maker() as session:
        keep = await member_of(session, a.registration_id)
        other = await member_of(session, b.registration_id)
    search = await organiser_client.get(f"/admin/members/{keep.id}", params={"q": "robin"})
    assert 'data-testid="merge-candidates"' in search.text and str(other.id) in search.text
    merged = await post(
        organiser_client, f"/admin/members/{keep.id}/merge", {"other_id": str(other.id)}
    )
    assert "Merged:" in merged.text and "Unmerge" in merged.text and two.title in merged.text
    old_link = await organiser_client.get(f"/admin/members/{other.id}", follow_redirects=False)
    assert old_link.status_code in (302, 303) and str(keep.id) in old_link.headers["location"]
    split = await post(
        organiser_client, f"/admin/members/{keep.id}/unmerge", {"original_id": str(other.id)}
    )
    assert "Split off again" in split.text
    bad = await post(organiser_client, f"/admin/members/{keep.id}/merge", {"other_id": "nope"})
    assert "Choose the profile to merge" in bad.text


async def test_member_directory_search(
    organiser_client: Client, make_event: MakeEvent, register: Register
) -> None:
    event = await make_event()
    await register(event, "Directory Person", "dir@example.com")
    page = await organiser_client.get("/admin/members", params={"q": "directory"})
    assert "Directory Person" in page.text and "1 profile" in page.text
    none = await organiser_client.get("/admin/members", params={"q": "zzzz-nobody"})
    assert "Nobody matches" in none.text
