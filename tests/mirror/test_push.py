"""Pushes end to end: Traffic Cop counts -> SAQ push jobs -> the three stand-ins."""

from __future__ import annotations

import asyncio
import time
import uuid

from sqlalchemy import select

from community.models import Event, Listing, OutboxMessage, SoldOutMode, SyncLog
from community.sandbox.shapes import Person
from community.services.events.organiser_changes import Effects, cancel_event
from community.services.jobs import enqueue_event_mirror
from community.tasks.mirror.job import MIN_PUSH_INTERVAL_S, push_listing
from tests.helpers.mirror import PLATFORMS, MakeEvent, MirroredEvent, MirrorRig, eventually


async def mirror(rig: MirrorRig, event: MirroredEvent, *, urgent: bool = True) -> None:
    await enqueue_event_mirror(
        rig.settings, rig.redis, rig.queues, rig.session_maker, event.id, urgent=urgent
    )


async def take_native_seat(rig: MirrorRig, event: MirroredEvent) -> str:
    """A registration on our own page, through the registration service (its hook mirrors)."""
    registered = await rig.registrations.register(
        event.id, name="Native Guest", email=f"guest-{uuid.uuid4().hex[:10]}@example.org"
    )
    assert registered.seat_no is not None
    return registered.ticket_token


def limits(rig: MirrorRig, event: MirroredEvent) -> dict[str, int | None]:
    return {p: rig.state(p, event.external(p))["limit"] for p in PLATFORMS}


async def listing_rows(rig: MirrorRig, event: MirroredEvent) -> dict[str, Listing]:
    async with rig.session_maker() as session:
        rows = await session.scalars(select(Listing).where(Listing.event_id == event.id))
        return {row.platform: row for row in rows}


async def test_native_registrations_move_every_listing_limit(
    rig: MirrorRig, make_event: MakeEvent
) -> None:
    event = await make_event(capacity=20, reserve=5)
    await mirror(rig, event, urgent=False)
    await eventually(lambda: limits(rig, event) == dict.fromkeys(PLATFORMS, 15))

    # The first five native seats come out of the native reserve: platforms still see 15.
    for _ in range(5):
        await take_native_seat(rig, event)
    for _ in range(2):
        await take_native_seat(rig, event)
    await eventually(lambda: limits(rig, event) == dict.fromkeys(PLATFORMS, 13))
    await eventually(lambda: no_push_pending(rig, event))

    rows = await listing_rows(rig, event)
    for platform, row in rows.items():
        assert row.last_pushed_limit == 13, platform
        assert row.sync_state == "in_step"
        assert row.remote_state == "open"
        assert row.last_pushed_at is not None
    async with rig.session_maker() as session:
        logged = (
            await session.scalars(
                select(SyncLog).where(SyncLog.event_id == event.id, SyncLog.direction == "push")
            )
        ).all()
    assert {entry.platform for entry in logged} == set(PLATFORMS)
    assert all(entry.outcome == "ok" for entry in logged)
    assert any("13" in entry.detail for entry in logged)


async def test_last_shared_seat_closes_every_listing_and_a_cancellation_reopens(
    rig: MirrorRig, make_event: MakeEvent
) -> None:
    # Platforms' own waitlists off: Luma's (read-only in its API) would otherwise take people.
    event = await make_event(
        capacity=4, reserve=1, mode=SoldOutMode.SOLD_OUT, platform_waitlist=False
    )
    tickets = [await take_native_seat(rig, event) for _ in range(4)]
    await eventually(lambda: all(not rig.state(p, event.external(p))["open"] for p in PLATFORMS))
    await eventually(lambda: no_push_pending(rig, event))
    rows = await listing_rows(rig, event)
    assert {row.remote_state for row in rows.values()} == {"sold_out"}

    await rig.registrations.cancel(tickets[-1])
    await eventually(lambda: all(rig.state(p, event.external(p))["open"] for p in PLATFORMS))
    await eventually(lambda: limits(rig, event) == dict.fromkeys(PLATFORMS, 1))
    await eventually(lambda: no_push_pending(rig, event))
    rows = await listing_rows(rig, event)
    assert {row.remote_state for row in rows.values()} == {"open"}


async def test_waitlist_mode_switches_each_platform_as_it_can(
    rig: MirrorRig, make_event: MakeEvent
) -> None:
    event = await make_event(capacity=3, reserve=0, mode=SoldOutMode.WAITLIST)
    # One person going on Meetup already (pulled earlier), so Meetup's waitlist can hold the
    # limit at its own count; with nobody there, a limit of 0 would mean "no limit".
    meetup = rig.sandboxes["meetup"].sandbox
    meetup.add_registration(event.external("meetup"), Person("Ada", member_id="4242"))
    async with rig.session_maker() as session:
        row = await session.get(Listing, event.listings["meetup"].id)
        assert row is not None
        row.platform_count = 1
        await session.commit()
    await rig.registrations.record_platform_registration(
        event.id, platform="meetup", name="Ada", email=None, platform_member_id="4242"
    )
    for _ in range(2):
        await take_native_seat(rig, event)

    expected = {"meetup": "waitlist", "luma": "waitlist", "eventbrite": "sold_out"}

    async def switched() -> bool:
        rows = await listing_rows(rig, event)
        return {p: row.remote_state for p, row in rows.items()} == expected

    await eventually(switched)
    # Meetup: limit at its own count with the AUTO waitlist; Eventbrite: sold out.
    meetup_state = rig.state("meetup", event.external("meetup"))
    assert meetup_state["waitlist_mode"] == "AUTO"
    assert meetup_state["limit"] == 1
    assert not rig.state("eventbrite", event.external("eventbrite"))["open"]


async def test_a_burst_of_100_registrations_coalesces_into_few_calls(
    rig: MirrorRig, make_event: MakeEvent
) -> None:
    event = await make_event(capacity=200, reserve=0)
    await mirror(rig, event, urgent=False)
    await eventually(lambda: limits(rig, event) == dict.fromkeys(PLATFORMS, 200))
    rig.clear_calls()

    started = time.monotonic()
    for _ in range(4):  # a flash sale: 100 people within about a second, 25 at a time
        await asyncio.gather(*(take_native_seat(rig, event) for _ in range(25)))
    burst_s = time.monotonic() - started
    await eventually(lambda: limits(rig, event) == dict.fromkeys(PLATFORMS, 100))
    await eventually(lambda: no_push_pending(rig, event))

    calls = {p: len(rig.calls(p)) for p in PLATFORMS}
    async with rig.session_maker() as session:
        pushes = (
            await session.scalars(
                select(SyncLog).where(SyncLog.event_id == event.id, SyncLog.direction == "push")
            )
        ).all()
    per_platform = {p: sum(1 for e in pushes if e.platform == p) for p in PLATFORMS}
    # Uncoalesced, 100 registrations would be 100 pushes per listing (100-300 calls each:
    # a Luma push reads the guest list back). The first push of the burst (to 200) is logged
    # before the burst started, hence one more than the pushes caused by it.
    # Pushes are at most MIN_PUSH_INTERVAL_S apart during a burst, plus the first and last.
    most = 2 + burst_s / MIN_PUSH_INTERVAL_S
    assert all(1 < n <= most for n in per_platform.values()), (per_platform, burst_s)
    assert sum(calls.values()) <= 3 * 3 * most, calls


async def no_push_pending(rig: MirrorRig, event: MirroredEvent) -> bool:
    from community.services.mirror.coalescing import Coalescer

    coalescer = Coalescer(rig.redis, rig.settings.redis_prefix, "push")
    for listing in event.listings.values():
        progress = await coalescer.progress(listing.id)
        if progress.pending or progress.runner_active:
            return False
    return True


async def test_job_function_runs_with_a_worker_like_ctx(
    rig: MirrorRig, make_event: MakeEvent
) -> None:
    event = await make_event(capacity=10, reserve=2)
    listing = event.listings["luma"]
    result = await push_listing(rig.ctx(), listing_id=str(listing.id))
    assert result["outcome"] == "done"
    assert rig.state("luma", event.external("luma"))["limit"] == 8
    # Nothing changed since: the next run skips without calling the platform.
    rig.clear_calls()
    result = await push_listing(rig.ctx(), listing_id=str(listing.id))
    assert result == {"outcome": "done", "actions": ["skipped"]}
    assert rig.calls("luma") == []


async def test_cancelling_the_event_closes_every_listing_and_tells_its_people(
    rig: MirrorRig, make_event: MakeEvent
) -> None:
    # Waitlist mode here: a cancelled event must still show sold out, not a waitlist. (Luma's
    # own waitlist, when the organiser enabled it on Luma, cannot be switched off by its API.)
    event = await make_event(
        capacity=20, reserve=5, mode=SoldOutMode.WAITLIST, platform_waitlist=False
    )
    await rig.registrations.register(event.id, name="Ada Native", email="ada-cancelled@example.org")
    await eventually(lambda: limits(rig, event) == dict.fromkeys(PLATFORMS, 15))
    await eventually(lambda: no_push_pending(rig, event))

    async with rig.session_maker() as session:
        row = await session.get(Event, event.id)
        assert row is not None
        fx = Effects(session, rig.redis, rig.settings, rig.queues, rig.session_maker)
        assert await cancel_event(fx, row) is True

    await eventually(lambda: all(not rig.state(p, event.external(p))["open"] for p in PLATFORMS))
    await eventually(lambda: no_push_pending(rig, event))
    rows = await listing_rows(rig, event)
    assert {row.remote_state for row in rows.values()} == {"sold_out"}
    assert {row.sync_state for row in rows.values()} == {"in_step"}

    async def mailed() -> list[str]:
        async with rig.session_maker() as session:
            found = await session.scalars(
                select(OutboxMessage.subject).where(
                    OutboxMessage.to_addr == "ada-cancelled@example.org"
                )
            )
            return list(found)

    # The worker fans the cancellation out to everyone; without SMTP it waits in the outbox.
    await eventually(mailed, within=15)
    assert await mailed() == [f"Cancelled: {event.event.title} will not take place"]
