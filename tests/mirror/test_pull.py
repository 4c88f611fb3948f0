"""Pulls end to end: stand-in registrations -> pull jobs -> Traffic Cop, ledger, members."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import select

from community.app import create_app
from community.config import Settings
from community.models import (
    Listing,
    Member,
    MemberIdentity,
    OutboxMessage,
    Registration,
    SoldOutMode,
    SyncLog,
)
from community.sandbox.shapes import Person
from community.services.jobs import install_promotion_mail, uninstall_promotion_mail
from community.services.mirror.coalescing import Coalescer
from community.tasks.pull import pull_all_listings, pull_listing
from community.views.event_pages import going_counts
from tests.helpers.mirror import (
    PLATFORMS,
    MakeEvent,
    MirroredEvent,
    MirrorRig,
    add,
    eventually,
    pull_everything,
)


async def registrations(rig: MirrorRig, event: MirroredEvent) -> list[Registration]:
    async with rig.session_maker() as session:
        rows = await session.scalars(select(Registration).where(Registration.event_id == event.id))
        return list(rows)


async def test_pulled_registrations_become_members_and_take_one_seat_each(
    rig: MirrorRig, make_event: MakeEvent
) -> None:
    event = await make_event(capacity=20, reserve=5)
    add(rig, event, "meetup", Person("Ada Lovelace", member_id="100001"))
    add(rig, event, "meetup", Person("Alan Turing", member_id="100003"))
    add(rig, event, "eventbrite", Person("Katherine Johnson", "Katherine@Example.org"))
    add(rig, event, "eventbrite", Person("Linus Torvalds", "linus@example.org"))
    add(rig, event, "luma", Person("Katherine Johnson", "katherine@example.org"))
    add(rig, event, "luma", Person("Margaret Hamilton", "margaret@example.org"))

    await pull_everything(rig, event)

    active = [r for r in await registrations(rig, event) if r.status == "confirmed"]
    by_channel = {p: sum(1 for r in active if r.channel == p) for p in PLATFORMS}
    # Katherine registered on Eventbrite and Luma: one person, one seat (on whichever
    # platform was pulled first).
    assert by_channel["meetup"] == 2
    assert by_channel["eventbrite"] + by_channel["luma"] == 3
    assert sum(1 for r in active if r.email == "katherine@example.org") == 1
    assert all(r.seat_no is not None and not r.past_mirror for r in active)
    async with rig.session_maker() as session:
        katherine = await session.scalar(
            select(Member).where(Member.email == "katherine@example.org")
        )
        assert katherine is not None
        identities = (
            await session.scalars(
                select(MemberIdentity.platform).where(MemberIdentity.member_id == katherine.id)
            )
        ).all()
        assert sorted(identities) == ["eventbrite", "luma"]
        rows = {
            r.platform: r
            for r in await session.scalars(select(Listing).where(Listing.event_id == event.id))
        }
    # Each platform's own count, as the pull saw it.
    assert {p: rows[p].platform_count for p in PLATFORMS} == dict.fromkeys(PLATFORMS, 2)
    counts = await rig.registrations.counts(event.id)
    assert counts.external == 5
    # The pulls pushed: every listing offers its own count plus the 10 shared seats left.
    await eventually(
        lambda: all(
            rig.state(p, event.external(p))["limit"] == 2 + counts.shared_left for p in PLATFORMS
        )
    )
    assert counts.shared_left == 10

    # Pulling again finds nothing new: nobody is counted twice.
    await pull_everything(rig, event)
    assert len([r for r in await registrations(rig, event) if r.status == "confirmed"]) == 5


async def test_a_cancellation_on_a_platform_releases_the_seat(
    rig: MirrorRig, make_event: MakeEvent
) -> None:
    event = await make_event(capacity=4, reserve=2, platform_waitlist=False)
    linus = add(rig, event, "eventbrite", Person("Linus Torvalds", "linus@example.org"))
    add(rig, event, "eventbrite", Person("Grace Hopper", "grace@example.org"))
    await pull_everything(rig, event)
    # Both shared seats are taken from Eventbrite: every listing closes.
    await eventually(lambda: all(not rig.state(p, event.external(p))["open"] for p in PLATFORMS))

    rig.sandboxes["eventbrite"].sandbox.cancel_registration(event.external("eventbrite"), linus)
    await pull_everything(rig, event)
    rows = {r.email: r for r in await registrations(rig, event)}
    assert rows["linus@example.org"].status == "cancelled"
    assert (await rig.registrations.counts(event.id)).shared_left == 1
    await eventually(lambda: all(rig.state(p, event.external(p))["open"] for p in PLATFORMS))


async def test_a_registration_that_raced_past_the_mirror_is_recorded_and_flagged(
    rig: MirrorRig, make_event: MakeEvent
) -> None:
    event = await make_event(capacity=5, reserve=3, platform_waitlist=False)
    # Meetup, before any limit reached it, accepted four RSVPs (more than the two shared
    # seats) that we have not pulled yet; meanwhile two people register on our page.
    for i in range(4):
        add(rig, event, "meetup", Person(f"Racer {i}", member_id=f"90000{i}"))
    for i in range(2):
        await rig.registrations.register(event.id, name=f"Native {i}", email=f"n{i}@example.org")

    await pull_everything(rig, event)

    meetup = sorted(
        (r for r in await registrations(rig, event) if r.channel == "meetup"),
        key=lambda r: r.created_at,
    )
    assert len(meetup) == 4  # every platform registration is recorded
    assert [r.past_mirror for r in meetup] == [False, False, True, True]
    # The first racer took the free reserved seat; the second found no seat at all.
    assert meetup[2].seat_no is not None and not meetup[2].over_capacity
    assert meetup[3].seat_no is None and meetup[3].over_capacity
    counts = await rig.registrations.counts(event.id)
    assert counts.over_capacity == 1
    assert counts.native_left == -1  # one more claim than seats: nothing is offered
    async with rig.session_maker() as session:
        details = (
            await session.scalars(
                select(SyncLog.detail).where(
                    SyncLog.event_id == event.id, SyncLog.direction == "pull"
                )
            )
        ).all()
    assert any("2 past the mirror (1 over capacity)" in d for d in details), details
    # Every listing closes: no seat is left anywhere.
    await eventually(lambda: all(not rig.state(p, event.external(p))["open"] for p in PLATFORMS))


async def test_pull_job_runs_with_a_worker_like_ctx(rig: MirrorRig, make_event: MakeEvent) -> None:
    event = await make_event()
    add(rig, event, "luma", Person("Guido van Rossum", "guido@example.org"))
    result = await pull_listing(rig.ctx(), listing_id=str(event.listings["luma"].id))
    assert result["outcome"] == "done"
    assert result["counts"] == [{"recorded": 1}]


async def test_the_schedule_pulls_listings_and_resumes_stranded_pushes(
    rig: MirrorRig, make_event: MakeEvent
) -> None:
    event = await make_event(capacity=12, reserve=2)
    add(rig, event, "meetup", Person("Ada Lovelace", member_id="100001"))
    # A change noted for Luma whose push job never ran (say its worker died).
    pushes = Coalescer(rig.redis, rig.settings.redis_prefix, "push")
    await pushes.request(event.listings["luma"].id)

    result = await pull_all_listings(rig.ctx())
    assert result["listings"] >= 3
    assert result["pushes_resumed"] >= 1

    # Meetup's RSVP came in by the schedule alone; every listing shows 10 - 1 shared seats.
    await eventually(lambda: rig.state("luma", event.external("luma"))["limit"] == 9)
    await eventually(lambda: rig.state("meetup", event.external("meetup"))["limit"] == 1 + 9)
    assert [r.channel for r in await registrations(rig, event)] == ["meetup"]


async def test_a_platform_cancellation_mails_the_person_who_gets_the_seat(
    rig: MirrorRig, make_event: MakeEvent
) -> None:
    event = await make_event(capacity=1, reserve=0, mode=SoldOutMode.WAITLIST)
    linus = add(rig, event, "eventbrite", Person("Linus Torvalds", "linus@example.org"))
    await pull_everything(rig, event)
    waiting = await rig.registrations.register(
        event.id, name="Wanda Waiting", email="wanda@example.org"
    )
    assert waiting.status == "waitlisted"
    listener = install_promotion_mail(rig.queues)  # as the worker's startup does
    try:
        rig.sandboxes["eventbrite"].sandbox.cancel_registration(event.external("eventbrite"), linus)
        await pull_everything(rig, event)

        async def mailed() -> list[str]:
            async with rig.session_maker() as session:
                rows = await session.scalars(
                    select(OutboxMessage.subject).where(
                        OutboxMessage.to_addr == "wanda@example.org"
                    )
                )
                return list(rows)

        await eventually(mailed, within=15)
        await asyncio.sleep(0.5)  # time for a second message, were one queued
        assert await mailed() == [f"A seat opened up: your ticket for {event.event.title}"]
    finally:
        uninstall_promotion_mail(listener)
    async with rig.session_maker() as session:
        seated = await session.get(Registration, waiting.registration_id)
    assert seated is not None and seated.status == "confirmed"


async def push_log(rig: MirrorRig, listing_id: object) -> list[str]:
    async with rig.session_maker() as session:
        rows = await session.scalars(
            select(SyncLog.action).where(
                SyncLog.listing_id == listing_id, SyncLog.direction == "push"
            )
        )
        return list(rows)


async def test_a_pull_pushes_the_first_limit_even_when_nobody_is_registered(
    rig: MirrorRig, make_event: MakeEvent
) -> None:
    event = await make_event(capacity=20, reserve=5)
    listing = event.listings["luma"]
    # Nobody anywhere: the pull changes nothing, yet the listing never got a limit from us.
    result = await pull_listing(rig.ctx(), listing_id=str(listing.id))
    assert result["counts"] == [{}]
    await eventually(lambda: rig.state("luma", event.external("luma"))["limit"] == 15)
    await eventually(lambda: _pushes_equal(rig, listing.id, 1))

    # Once the listing shows its target, a pull that changes nothing pushes nothing.
    await pull_listing(rig.ctx(), listing_id=str(listing.id))
    await asyncio.sleep(0.5)
    assert len(await push_log(rig, listing.id)) == 1


async def _pushes_equal(rig: MirrorRig, listing_id: object, expected: int) -> bool:
    async with rig.session_maker() as session:
        listing = await session.get(Listing, listing_id)
        in_step = listing is not None and listing.sync_state == "in_step"
    return in_step and len(await push_log(rig, listing_id)) == expected


async def test_pulls_that_find_nothing_new_leave_one_last_checked_row(
    rig: MirrorRig, make_event: MakeEvent
) -> None:
    event = await make_event()
    add(rig, event, "luma", Person("Guido van Rossum", "guido@example.org"))
    listing_id = str(event.listings["luma"].id)
    await pull_listing(rig.ctx(), listing_id=listing_id)
    for _ in range(3):  # nothing new on Luma: three checks, one row
        await pull_listing(rig.ctx(), listing_id=listing_id)
    async with rig.session_maker() as session:
        actions = (
            await session.scalars(
                select(SyncLog.action).where(
                    SyncLog.listing_id == event.listings["luma"].id, SyncLog.direction == "pull"
                )
            )
        ).all()
    assert sorted(actions) == ["pull_all", "pull_checked"], actions


async def test_meetup_member_photos_become_faces_of_who_is_going(
    rig: MirrorRig, make_event: MakeEvent, settings: Settings, redis: Any
) -> None:
    event = await make_event(capacity=20, reserve=5)
    ada_photo = "https://photos.example.org/member/100001/thumb.jpeg"
    add(rig, event, "meetup", Person("Ada Lovelace", member_id="100001", photo_url=ada_photo))
    add(rig, event, "meetup", Person("Alan Turing", member_id="100003"))  # no photo
    await pull_everything(rig, event)

    async with rig.session_maker() as session:
        going = await going_counts(session, event.id)
    assert sorted((f.initial, f.photo_url or "") for f in going.faces) == [
        ("A", ""),
        ("A", ada_photo),
    ]
    # The event page shows it over the initial (which stays beneath, should it not load).
    async with AsyncTestClient(app=create_app(settings)) as client:
        page = await client.get(f"/events/{event.event.slug}")
    assert page.status_code == 200
    assert f'<img src="{ada_photo}" alt=""' in page.text
