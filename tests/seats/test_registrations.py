"""The registration service against real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from community.config import Settings
from community.models import Channel, EventStatus, Registration, RegistrationStatus, SoldOutMode
from community.services.seats.hooks import InventoryHooks
from community.services.seats.inventory import (
    Already,
    Closed,
    Counts,
    InventoryError,
    InventorySettings,
    JoinedWaitlist,
    PlaceState,
    Seat,
    Snapshot,
    SnapshotEntry,
    SoldOut,
)
from community.services.seats.refusals import (
    AlreadyCancelled,
    AlreadyRegistered,
    EventNotFound,
    HoldExpired,
    InvalidRegistration,
    RegistrationClosed,
    RegistrationUnavailable,
    SoldOutError,
    TicketNotFound,
    refuse_if_refused,
)
from community.services.seats.registrations import RegistrationService


async def ledger(
    session_maker: async_sessionmaker[AsyncSession], event_id: UUID
) -> list[Registration]:
    async with session_maker() as session:
        rows = await session.scalars(
            select(Registration)
            .where(Registration.event_id == event_id)
            .order_by(Registration.created_at)
        )
        return list(rows)


def active(rows: list[Registration]) -> list[Registration]:
    return [r for r in rows if r.status != RegistrationStatus.CANCELLED]


async def register(service: RegistrationService, event_id: UUID, who: str, **kw: Any) -> Any:
    return await service.register(event_id, name=who.title(), email=f"{who}@example.com", **kw)


@pytest.fixture
def heard(hooks: InventoryHooks) -> list[tuple[UUID, str]]:
    calls: list[tuple[UUID, str]] = []

    async def listener(event_id: UUID, channel: str) -> None:
        calls.append((event_id, channel))

    hooks.add(listener)
    return calls


async def test_register_takes_a_seat_writes_the_ledger_and_tells_the_mirror(
    registrations: RegistrationService, make_event: Any, session_maker: Any, heard: list
) -> None:
    event = await make_event(capacity=3)
    first = await register(registrations, event.id, "ada")
    assert (first.status, first.seat_no, first.channel) == ("confirmed", 1, "native")
    assert len(first.ticket_token) >= 32
    second = await register(registrations, event.id, "grace")
    assert second.seat_no == 2
    rows = await ledger(session_maker, event.id)
    assert [(r.seat_no, r.email, r.status) for r in rows] == [
        (1, "ada@example.com", "confirmed"),
        (2, "grace@example.com", "confirmed"),
    ]
    assert heard == [(event.id, "native"), (event.id, "native")]
    counts = await registrations.counts(event.id)
    assert (counts.native, counts.free) == (2, 1)


async def test_the_same_person_is_told_they_are_already_registered(
    registrations: RegistrationService, make_event: Any, session_maker: Any
) -> None:
    event = await make_event(capacity=5)
    await register(registrations, event.id, "ada")
    with pytest.raises(AlreadyRegistered) as caught:
        await registrations.register(event.id, name="Ada L.", email="  ADA@Example.com ")
    assert caught.value.channel == "native" and caught.value.since is not None
    assert "already registered" in caught.value.message
    # On another channel too: one person, one seat.
    with pytest.raises(AlreadyRegistered):
        await registrations.register(
            event.id,
            name="Ada",
            email="ada@example.com",
            channel=Channel.MEETUP,
            platform_member_id="m-1",
        )
    assert len(await ledger(session_maker, event.id)) == 1


async def test_platform_registrations_get_only_the_shared_seats(
    registrations: RegistrationService, make_event: Any, session_maker: Any
) -> None:
    event = await make_event(capacity=3, reserve=2)
    ok = await registrations.register(
        event.id, name="P1", email=None, channel="luma", platform_member_id="l-1"
    )
    assert ok.seat_no == 1
    with pytest.raises(SoldOutError):
        await registrations.register(
            event.id, name="P2", email=None, channel="luma", platform_member_id="l-2"
        )
    assert (await register(registrations, event.id, "native")).seat_no == 2


async def test_sold_out_and_already_registered_need_no_database(
    registrations: RegistrationService, make_event: Any, settings: Settings, redis: Any
) -> None:
    event = await make_event(capacity=1)
    await register(registrations, event.id, "ada")
    # A service whose database cannot be reached still answers both from Redis.
    dead = create_async_engine(
        "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere", pool_size=1, max_overflow=0
    )
    offline = RegistrationService.build(
        settings, redis, async_sessionmaker(dead), hooks=InventoryHooks()
    )
    try:
        with pytest.raises(SoldOutError):
            await register(offline, event.id, "grace")
        with pytest.raises(AlreadyRegistered):
            await register(offline, event.id, "ada")
    finally:
        await dead.dispose()


async def test_waitlist_positions_and_promotion_on_cancel(
    registrations: RegistrationService, make_event: Any, session_maker: Any, heard: list
) -> None:
    event = await make_event(capacity=1, mode=SoldOutMode.WAITLIST)
    seated = await register(registrations, event.id, "ada")
    first = await register(registrations, event.id, "grace")
    second = await register(registrations, event.id, "linus")
    assert (first.status, first.waitlist_position, first.seat_no) == ("waitlisted", 1, None)
    assert second.waitlist_position == 2
    with pytest.raises(AlreadyRegistered) as caught:
        await register(registrations, event.id, "grace")
    assert caught.value.waitlisted

    cancelled = await registrations.cancel(seated.ticket_token)
    assert [p.registration_id for p in cancelled.promoted] == [first.registration_id]
    rows = {r.id: r for r in await ledger(session_maker, event.id)}
    assert rows[first.registration_id].status == "confirmed"
    assert rows[first.registration_id].seat_no == 1
    assert rows[second.registration_id].status == "waitlisted"
    counts = await registrations.counts(event.id)
    assert (counts.native, counts.waiting, counts.free) == (1, 1, 0)
    # A newcomer queues behind the person still waiting.
    late = await register(registrations, event.id, "newcomer")
    assert late.waitlist_position == 2


async def test_cancel_by_ticket_token(
    registrations: RegistrationService, make_event: Any, heard: list
) -> None:
    event = await make_event(capacity=1)
    reg = await register(registrations, event.id, "ada")
    with pytest.raises(SoldOutError):
        await register(registrations, event.id, "grace")
    result = await registrations.cancel(reg.ticket_token)
    assert result.registration_id == reg.registration_id and result.promoted == []
    assert (await register(registrations, event.id, "grace")).seat_no == 1
    with pytest.raises(AlreadyCancelled):
        await registrations.cancel(reg.ticket_token)
    for bad in ("", "short", "x" * 65, "not a token at all!", "A" * 40):
        with pytest.raises(TicketNotFound):
            await registrations.cancel(bad)
    # The person who cancelled may register again.
    with pytest.raises(SoldOutError):
        await register(registrations, event.id, "ada")


async def test_a_failed_ledger_write_gives_the_seat_back(
    registrations: RegistrationService, make_event: Any, session_maker: Any, refusing_writes: Any
) -> None:
    event = await make_event(capacity=2)
    await register(registrations, event.id, "ada")
    await refusing_writes(event.id, True)
    with pytest.raises(RegistrationUnavailable) as caught:
        await register(registrations, event.id, "grace")
    assert "nothing was taken" in caught.value.message
    counts = await registrations.counts(event.id)
    assert (counts.taken, counts.free) == (1, 1)
    await refusing_writes(event.id, False)
    assert (await register(registrations, event.id, "grace")).seat_no == 2
    assert len(await ledger(session_maker, event.id)) == 2


async def test_first_use_after_redis_forgot_rebuilds_from_the_ledger(
    registrations: RegistrationService, make_event: Any
) -> None:
    event = await make_event(capacity=4, reserve=1)
    await register(registrations, event.id, "ada")
    await registrations.register(
        event.id, name="M", email=None, channel="meetup", platform_member_id="m-7"
    )
    await registrations.inventory.forget(event.id)
    counts = await registrations.counts(event.id)
    assert (counts.native, counts.external, counts.free, counts.shared_left) == (1, 1, 2, 2)
    with pytest.raises(AlreadyRegistered) as caught:
        await registrations.register(
            event.id, name="M", email=None, channel="meetup", platform_member_id="m-7"
        )
    assert caught.value.channel == "meetup"
    assert (await register(registrations, event.id, "grace")).seat_no == 3


async def test_a_stale_redis_cannot_oversell_the_ledger_refuses_and_it_retries(
    registrations: RegistrationService, make_event: Any, session_maker: Any
) -> None:
    event = await make_event(capacity=2)
    await register(registrations, event.id, "ada")
    # Redis wrongly believes the event is empty (e.g. restored from an old backup).
    stale = Snapshot(InventorySettings(2, 0), [])
    await registrations.inventory.load(event.id, stale)
    grace = await register(registrations, event.id, "grace")
    assert grace.seat_no == 2  # seat 1 was refused by the ledger; Redis was rebuilt
    with pytest.raises(SoldOutError):
        await register(registrations, event.id, "linus")
    assert sorted(r.seat_no for r in await ledger(session_maker, event.id)) == [1, 2]


async def test_a_person_redis_forgot_is_caught_by_the_ledger(
    registrations: RegistrationService, make_event: Any
) -> None:
    event = await make_event(capacity=5)
    await register(registrations, event.id, "ada")
    await registrations.inventory.load(event.id, Snapshot(InventorySettings(5, 0), []))
    with pytest.raises(AlreadyRegistered) as caught:
        await register(registrations, event.id, "ada")
    assert caught.value.channel == "native" and caught.value.since is not None
    counts = await registrations.counts(event.id)
    assert counts.taken == 1, "the rebuild put Redis back in step"


async def test_the_ledger_keeps_platforms_within_their_share(
    registrations: RegistrationService, make_event: Any, session_maker: Any
) -> None:
    event = await make_event(capacity=3, reserve=2)
    await registrations.register(
        event.id, name="P", email=None, channel="meetup", platform_member_id="p-1"
    )
    # Redis forgot the platform seat, and seat numbers do not clash: only the C - R guard holds.
    ghost = SnapshotEntry(PlaceState.CONFIRMED, "native", 1, 0, ("ghost",))
    await registrations.inventory.load(event.id, Snapshot(InventorySettings(3, 2), [ghost]))
    with pytest.raises(SoldOutError):
        await registrations.register(
            event.id, name="Q", email=None, channel="eventbrite", platform_member_id="q-1"
        )
    rows = active(await ledger(session_maker, event.id))
    assert [(r.channel, r.seat_no) for r in rows] == [("meetup", 1)]


async def test_holds_confirm_expire_and_let_go(
    registrations: RegistrationService, make_event: Any, session_maker: Any
) -> None:
    event = await make_event(capacity=2)
    held = await registrations.hold(event.id, name="Ada", email="ada@example.com", ttl_s=30)
    assert held.seat_no == 1 and held.expires_at > datetime.now(UTC)
    counts = await registrations.counts(event.id)
    assert (counts.held, counts.taken, counts.free) == (1, 1, 1)
    assert await ledger(session_maker, event.id) == []
    reg = await registrations.confirm_hold(event.id, name="Ada", email="ada@example.com")
    assert (reg.status, reg.seat_no) == ("confirmed", 1)
    assert (await registrations.counts(event.id)).held == 0

    await registrations.hold(event.id, name="Bo", email="bo@example.com", ttl_s=0.1)
    await asyncio.sleep(0.2)
    assert (await registrations.counts(event.id)).free == 1
    with pytest.raises(HoldExpired):
        await registrations.confirm_hold(event.id, name="Bo", email="bo@example.com")

    await registrations.hold(event.id, name="Cy", email="cy@example.com")
    with pytest.raises(SoldOutError):
        await registrations.hold(event.id, name="Di", email="di@example.com")
    assert await registrations.release_hold(event.id, email="cy@example.com")
    assert not await registrations.release_hold(event.id, email="cy@example.com")
    assert (await registrations.counts(event.id)).free == 1


async def test_platform_races_are_recorded_and_flagged(
    registrations: RegistrationService, make_event: Any, session_maker: Any
) -> None:
    event = await make_event(capacity=2, reserve=1)

    async def race(n: int) -> Any:
        return await registrations.record_platform_registration(
            event.id,
            platform="eventbrite",
            name=f"Attendee {n}",
            email=f"a{n}@example.com",
            platform_member_id=f"eb-{n}",
            external_id=f"order-{n}",
        )

    within, past, over = await race(1), await race(2), await race(3)
    assert (within.seat_no, within.past_mirror) == (1, False)
    assert (past.seat_no, past.past_mirror) == (2, True)
    assert (over.seat_no, over.over_capacity, over.status) == (None, True, "confirmed")
    counts = await registrations.counts(event.id)
    assert (counts.external, counts.over_capacity, counts.free) == (2, 1, 0)
    with pytest.raises(AlreadyRegistered):
        await race(2)
    # The over-capacity person leaving frees no seat; a seated one leaving does.
    await registrations.cancel(over.ticket_token, by="platform")
    assert (await registrations.counts(event.id)).free == 0
    await registrations.cancel(past.ticket_token, by="platform")
    assert (await registrations.counts(event.id)).free == 1


async def test_changing_seats_keeps_redis_and_the_ledger_together(
    registrations: RegistrationService, make_event: Any, session_maker: Any, heard: list
) -> None:
    event = await make_event(capacity=4, mode=SoldOutMode.WAITLIST)
    regs = [await register(registrations, event.id, p) for p in ("a", "b", "c", "d", "e")]
    assert regs[-1].status == "waitlisted"
    await registrations.cancel(regs[1].ticket_token)  # frees seat 2, promotes e into it
    await registrations.cancel(regs[2].ticket_token)  # seat 3 free
    with pytest.raises(InventoryError) as caught:
        await registrations.change_seats(event.id, capacity=3, reserve=0, mode="waitlist")
    assert caught.value.seats == [4]
    change = await registrations.change_seats(
        event.id, capacity=3, reserve=1, mode="sold_out", renumber=True
    )
    assert [(m.old_seat, m.new_seat) for m in change.moves] == [(4, 3)]
    rows = active(await ledger(session_maker, event.id))
    assert sorted(r.seat_no for r in rows) == [1, 2, 3]
    counts = await registrations.counts(event.id)
    assert (counts.capacity, counts.reserve, counts.mode, counts.free) == (3, 1, "sold_out", 0)

    grown = await registrations.change_seats(event.id, capacity=5, reserve=1, mode="waitlist")
    assert grown.promoted == [] and (await registrations.counts(event.id)).free == 2
    with pytest.raises(InventoryError):
        await registrations.change_seats(event.id, capacity=2, reserve=0, mode="waitlist")
    with pytest.raises(InventoryError):
        await registrations.change_seats(event.id, capacity=5, reserve=6, mode="waitlist")


async def test_raising_capacity_promotes_the_waitlist(
    registrations: RegistrationService, make_event: Any
) -> None:
    event = await make_event(capacity=1, mode=SoldOutMode.WAITLIST)
    for p in ("a", "b", "c"):
        await register(registrations, event.id, p)
    change = await registrations.change_seats(event.id, capacity=2, reserve=0, mode="waitlist")
    assert [p.seat_no for p in change.promoted] == [2]
    counts = await registrations.counts(event.id)
    assert (counts.taken, counts.waiting) == (2, 1)


async def test_closed_unknown_and_ended_events(
    registrations: RegistrationService, make_event: Any
) -> None:
    draft = await make_event(status=EventStatus.DRAFT)
    with pytest.raises(RegistrationClosed):
        await register(registrations, draft.id, "ada")
    ended = await make_event(starts_in=-timedelta(days=3))
    with pytest.raises(RegistrationClosed):
        await register(registrations, ended.id, "ada")
    with pytest.raises(EventNotFound):
        await register(registrations, uuid4(), "ada")
    assert not await registrations.inventory.is_loaded(uuid4())


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "", "email": "a@example.com"}, "name"),
        ({"name": "   ", "email": "a@example.com"}, "name"),
        ({"name": "x" * 201, "email": "a@example.com"}, "name"),
        ({"name": "Ada", "email": "not-an-email"}, "email"),
        ({"name": "Ada", "email": ""}, "email"),
        ({"name": "Ada", "email": "a@b"}, "email"),
        ({"name": "Ada", "email": None, "channel": "meetup"}, "platform_member_id"),
        ({"name": "Ada", "email": "a@example.com", "channel": "myspace"}, "channel"),
    ],
)
async def test_bad_input_is_refused_with_the_field_named(
    registrations: RegistrationService, make_event: Any, kwargs: dict, field: str
) -> None:
    event = await make_event()
    with pytest.raises(InvalidRegistration) as caught:
        await registrations.register(event.id, **kwargs)
    assert caught.value.field == field


async def test_counts_follow_the_inventory_model(
    registrations: RegistrationService, make_event: Any
) -> None:
    event = await make_event(capacity=10, reserve=4)
    for p in ("a", "b", "c", "d", "e"):
        await register(registrations, event.id, p)
    for n in range(2):
        await registrations.register(
            event.id, name="P", email=None, channel="luma", platform_member_id=f"l{n}"
        )
    counts = await registrations.counts(event.id)
    assert isinstance(counts, Counts)
    # n_int = 5, n_ext = 2, R = 4: shared_used = 2 + 1, shared_left = 6 - 3, native_left = 3
    assert (counts.shared_used, counts.shared_left, counts.native_left) == (3, 3, 3)
    assert counts.per_channel == {"native": 5, "meetup": 0, "eventbrite": 0, "luma": 2}
    assert counts.platform_limit(2) == 5


async def test_a_failing_listener_does_not_undo_a_registration(
    registrations: RegistrationService, make_event: Any, hooks: InventoryHooks
) -> None:
    heard: list[tuple[UUID, str]] = []

    async def broken(event_id: UUID, channel: str) -> None:
        raise RuntimeError("queue down")

    async def listener(event_id: UUID, channel: str) -> None:
        heard.append((event_id, channel))

    hooks.add(broken)
    hooks.add(broken)  # added once only
    hooks.add(listener)
    event = await make_event(capacity=2)
    reg = await register(registrations, event.id, "ada")
    assert reg.status == "confirmed"
    assert heard == [(event.id, "native")], "the listeners after the broken one still ran"
    hooks.remove(broken)
    await register(registrations, event.id, "grace")
    assert len(heard) == 2


async def test_works_with_a_session_maker_that_expires_on_commit(
    engine: Any, settings: Settings, redis: Any, make_event: Any
) -> None:
    service = RegistrationService.build(
        settings, redis, async_sessionmaker(engine), hooks=InventoryHooks()
    )
    event = await make_event(capacity=1, mode=SoldOutMode.WAITLIST)
    seated = await register(service, event.id, "ada")
    waiting = await register(service, event.id, "grace")
    assert (seated.seat_no, waiting.waitlist_position) == (1, 1)
    cancelled = await service.cancel(seated.ticket_token)
    assert [p.registration_id for p in cancelled.promoted] == [waiting.registration_id]


def test_each_traffic_cop_refusal_maps_to_one_registration_refusal() -> None:
    since = datetime(2026, 5, 1, tzinfo=UTC)
    with pytest.raises(AlreadyRegistered) as already:
        refuse_if_refused(Already("meetup", PlaceState.WAITLISTED, 0, since, "g1"))
    assert (already.value.channel, already.value.since, already.value.waitlisted) == (
        "meetup",
        since,
        True,
    )
    with pytest.raises(SoldOutError):
        refuse_if_refused(SoldOut(0, 0, "g1"))
    with pytest.raises(RegistrationClosed):
        refuse_if_refused(Closed("g1"))
    seat, waitlist = Seat(3, PlaceState.CONFIRMED, "g1"), JoinedWaitlist("g1")
    assert refuse_if_refused(seat) is seat and refuse_if_refused(waitlist) is waitlist
