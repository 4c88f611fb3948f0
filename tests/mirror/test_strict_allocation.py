"""Strict allocation against the stand-ins: the platforms together never sell more than the
shared seats, whatever they sell between two pulls, while natives register at the same time."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid

from community.models import Allocation, Listing, Registration, SoldOutMode
from community.sandbox.shapes import Person
from community.services.jobs import enqueue_event_mirror, enqueue_pull
from community.services.seats.inventory import Counts
from community.services.seats.refusals import RegistrationError
from tests.helpers.mirror import PLATFORMS, MakeEvent, MirroredEvent, MirrorRig, eventually


def going(rig: MirrorRig, event: MirroredEvent, platform: str) -> int:
    state = rig.state(platform, event.external(platform))
    if platform == "eventbrite":
        return sum(tc["sold"] for tc in state["ticket_classes"])
    return int(state["going"])


def limit(rig: MirrorRig, event: MirroredEvent, platform: str) -> int | None:
    return rig.state(platform, event.external(platform))["limit"]


async def listing_state(rig: MirrorRig, event: MirroredEvent, platform: str) -> str:
    async with rig.session_maker() as session:
        row = await session.get(Listing, event.listings[platform].id)
        return row.sync_state if row is not None else ""


async def counts(rig: MirrorRig, event: MirroredEvent) -> Counts:
    return await rig.registrations.counts(event.id)


async def places(rig: MirrorRig, event: MirroredEvent) -> int:
    """Native seats plus what every platform says is going (nobody is on two channels here)."""
    return (await counts(rig, event)).native + sum(going(rig, event, p) for p in PLATFORMS)


async def pushed(rig: MirrorRig, event: MirroredEvent) -> None:
    await enqueue_event_mirror(
        rig.settings, rig.redis, rig.queues, rig.session_maker, event.id, urgent=True
    )


async def test_listings_are_offered_their_shares_of_the_pool_and_no_more(
    rig: MirrorRig, make_event: MakeEvent
) -> None:
    event = await make_event(capacity=20, reserve=5, allocation=Allocation.STRICT)
    await pushed(rig, event)

    async def split() -> bool:
        limits = [limit(rig, event, p) for p in PLATFORMS]
        return None not in limits and sum(limits) == 11  # type: ignore[arg-type]

    # 15 shared seats among four channels with no sales yet: 4 for our page, 11 for the three.
    await eventually(split)
    c = await counts(rig, event)
    assert c.promised_total == 11 and c.unpromised_left == 4
    assert sorted(limit(rig, event, p) or 0 for p in PLATFORMS) == [3, 4, 4]

    # Our page sells fast: the split moves towards it, and each listing's promise comes down
    # to its new limit once its platform confirmed it (until then the old one holds).
    for i in range(7):
        await rig.registrations.register(event.id, name="Native", email=f"fast{i}@example.org")

    async def promises_follow_the_limits() -> bool:
        c = await counts(rig, event)
        shown = {p: (limit(rig, event, p) or 0) - going(rig, event, p) for p in PLATFORMS}
        return c.promised == shown and c.promised_total < 11

    await eventually(promises_follow_the_limits)


async def test_a_listing_whose_share_is_sold_closes_there_while_others_sell_on(
    rig: MirrorRig, make_event: MakeEvent
) -> None:
    event = await make_event(
        capacity=12, reserve=0, allocation=Allocation.STRICT, platform_waitlist=False
    )
    await pushed(rig, event)
    await eventually(lambda: limit(rig, event, "luma") is not None)
    share = limit(rig, event, "luma") or 0
    sold = [
        rig.sandboxes["luma"].sandbox.add_registration(
            event.external("luma"), Person(f"Luma {i}", email=f"luma{i}@example.org")
        )
        for i in range(share + 2)
    ]
    # Luma itself refuses past its share: nobody else's seats are sold there.
    assert [o.status for o in sold].count("going") == share
    assert not rig.state("luma", event.external("luma"))["open"]
    assert rig.state("meetup", event.external("meetup"))["open"]
    assert await places(rig, event) <= 12


async def test_over_capacity_places_keep_their_claim_through_cancellations(
    rig: MirrorRig, make_event: MakeEvent
) -> None:
    """The sell-out-then-cancel run: freed seats go to the people over capacity, and natives
    are refused while they wait: the ledger never confirms more places than seats."""
    event = await make_event(capacity=10, reserve=0, allocation=Allocation.SHARED)
    service = rig.registrations
    racers = [
        await service.record_platform_registration(
            event.id, platform="meetup", name=f"Racer {i}", email=None, platform_member_id=f"77{i}"
        )
        for i in range(13)
    ]
    assert sum(1 for r in racers if r.over_capacity) == 3
    for racer in racers[:4]:
        await service.cancel(racer.ticket_token, by="platform")
    accepted = 0
    for i in range(5):
        try:
            await service.register(event.id, name=f"Native {i}", email=f"n{i}@example.org")
            accepted += 1
        except RegistrationError:
            pass
    assert accepted == 1  # four seats came free; three belonged to the racers over capacity
    c = await counts(rig, event)
    assert (c.taken, c.over_capacity, c.native_left) == (10, 0, 0)


async def sell(rig: MirrorRig, event: MirroredEvent, platform: str, stop: asyncio.Event) -> None:
    """Visitors buying on one platform, five a second, each a new person."""
    sandbox = rig.sandboxes[platform].sandbox
    for i in itertools.count():
        if stop.is_set():
            return
        person = Person(f"{platform} {i}", email=f"{platform}{i}@example.org", member_id=f"9{i}")
        sandbox.add_registration(event.external(platform), person)
        await asyncio.sleep(0.2)


async def register_natively(rig: MirrorRig, event: MirroredEvent, stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(RegistrationError):
            await rig.registrations.register(
                event.id, name="Native", email=f"n{uuid.uuid4().hex[:12]}@example.org"
            )
        await asyncio.sleep(0.15)


async def poll(rig: MirrorRig, event: MirroredEvent, stop: asyncio.Event) -> None:
    """We learn of platform sales by pulling, once a second here."""
    while not stop.is_set():
        for listing in event.listings.values():
            await enqueue_pull(rig.settings, rig.redis, rig.queues, listing.id)
        await asyncio.sleep(1.0)


async def test_three_platforms_racing_natives_never_sell_more_than_the_seats(
    rig: MirrorRig, make_event: MakeEvent
) -> None:
    capacity = 40
    event = await make_event(
        capacity=capacity,
        reserve=10,
        mode=SoldOutMode.SOLD_OUT,
        allocation=Allocation.STRICT,
        platform_waitlist=False,
    )
    await pushed(rig, event)
    await eventually(lambda: all(limit(rig, event, p) is not None for p in PLATFORMS))
    stop = asyncio.Event()
    workers = [asyncio.create_task(sell(rig, event, p, stop)) for p in PLATFORMS]
    workers += [
        asyncio.create_task(register_natively(rig, event, stop)),
        asyncio.create_task(poll(rig, event, stop)),
    ]
    peak, started = 0, time.monotonic()
    try:
        # Checked continuously, not only at the end.
        while time.monotonic() - started < 25:
            now_places = await places(rig, event)
            if now_places > capacity:
                c = await counts(rig, event)
                print(
                    "OVER",
                    now_places,
                    c.native,
                    c.external,
                    c.over_capacity,
                    c.promised,
                    {p: (going(rig, event, p), limit(rig, event, p)) for p in PLATFORMS},
                )
            peak = max(peak, now_places)
            if peak >= capacity and (await counts(rig, event)).native_left <= 0:
                break
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await asyncio.gather(*workers, return_exceptions=True)
    assert peak <= capacity
    assert peak == capacity, "every seat is sold in the end: no promise is left stranded"


async def test_seats_a_listing_gives_back_go_to_the_waitlist(
    rig: MirrorRig, make_event: MakeEvent
) -> None:
    """Our page sells its share; the next person waits. The split then moves towards our page,
    and once a platform confirmed its lower limit the seat it gave back seats them."""
    event = await make_event(
        capacity=4, reserve=0, mode=SoldOutMode.WAITLIST, allocation=Allocation.STRICT
    )
    await pushed(rig, event)
    await eventually(lambda: sum(limit(rig, event, p) or 0 for p in PLATFORMS) == 3)
    first = await rig.registrations.register(event.id, name="First", email="first@example.org")
    assert first.seat_no is not None
    second = await rig.registrations.register(event.id, name="Second", email="second@example.org")
    assert second.status == "waitlisted"

    async def seated() -> bool:
        async with rig.session_maker() as session:
            row = await session.get(Registration, second.registration_id)
            return row is not None and row.status == "confirmed" and row.seat_no is not None

    await eventually(seated, within=15)
    assert await places(rig, event) <= 4
