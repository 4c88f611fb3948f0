"""Guests of a platform registration: one seat each, following the person who brought them.

A Meetup RSVP "+2 guests" or an Eventbrite order of 3 tickets by one buyer is one person
(one registration, one member profile: the one-person-one-seat rule) who brings guests. Each
guest holds a seat of its own: a place in the Traffic Cop under its own key and a ledger row
with its seat number (so the unique seat index guards it like any other), linked to the host
registration and without a member profile of its own.

Guest rows are named by the platform registration that brought them: ``<external id>#g<n>``
on that platform's channel. When the same person holds their place through another channel
(linked, not double counted), the guests still take seats, hung on the place they hold.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from community.models import Registration, RegistrationStatus
from community.services.seats.inventory import Already, Closed, OverCapacity, PlaceState, Raced
from community.services.seats.ledger_writes import (
    GUEST_MARK,
    MAX_EXTERNAL_ID,
    SEAT_GUARDS,
    constraint_of,
    new_ticket_token,
)
from community.services.seats.refusals import RegistrationUnavailable, unavailable_on_failure
from community.services.seats.registrations import RegistrationService

log = logging.getLogger("community.guests")

# A platform may say anything; nobody brings more guests than this to one registration.
MAX_GUESTS = 50


def guest_external_id(source_external_id: str, number: int) -> str:
    tail = f"{GUEST_MARK}{number}"
    return source_external_id[: MAX_EXTERNAL_ID - 16 - len(tail)] + tail


def guest_prefix(source_external_id: str) -> str:
    return guest_external_id(source_external_id, 0)[:-1]


@dataclass(frozen=True)
class GuestChange:
    taken: int = 0
    over_capacity: int = 0
    released: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.taken or self.released)


async def active_guests(
    service: RegistrationService, event_id: UUID, platform: str, source_external_id: str
) -> list[Registration]:
    async with service.session_maker() as session:
        rows = await session.scalars(
            select(Registration).where(
                Registration.event_id == event_id,
                Registration.channel == platform,
                Registration.guest_of_id.is_not(None),
                Registration.status == RegistrationStatus.CONFIRMED,
                Registration.external_id.startswith(
                    guest_prefix(source_external_id), autoescape=True
                ),
            )
        )
        return list(rows)


def _number(row: Registration) -> int:
    tail = (row.external_id or "").rpartition(GUEST_MARK)[2]
    return int(tail) if tail.isdigit() else 0


async def sync_guests(
    service: RegistrationService,
    event_id: UUID,
    *,
    host_id: UUID,
    platform: str,
    source_external_id: str,
    wanted: int,
    listing_id: UUID | None = None,
    only_more: bool = False,
) -> GuestChange:
    """Make the guests brought by this platform registration hold exactly `wanted` seats.

    With `only_more` (the platform showed part of a group only), guests are added, never
    released. Guests above `wanted` go first (the last added), missing numbers are taken.
    """
    wanted = max(0, min(wanted, MAX_GUESTS))
    rows = await active_guests(service, event_id, platform, source_external_id)
    held = {_number(r): r for r in rows}
    surplus = [] if only_more else [r for n, r in held.items() if n > wanted or n < 1]
    missing = [n for n in range(1, wanted + 1) if n not in held]
    moved = [r.id for n, r in held.items() if r.guest_of_id != host_id and r not in surplus]
    change = GuestChange()
    async with unavailable_on_failure():
        if moved:
            await _rehost(service, moved, host_id)
        if surplus:
            change = GuestChange(released=await _release(service, event_id, surplus))
        for number in missing:
            over = await _take(
                service,
                event_id,
                host_id=host_id,
                platform=platform,
                external_id=guest_external_id(source_external_id, number),
                listing_id=listing_id,
            )
            if over is None:
                break  # the event takes no registrations any more
            change = GuestChange(change.taken + 1, change.over_capacity + over, change.released)
    if change.changed:
        await _touch(service, host_id)
    if change.released:
        await service.promote_waitlist(event_id)
    if change.changed:
        await service.hooks.fire(event_id, platform)
    return change


async def _touch(service: RegistrationService, host_id: UUID) -> None:
    """The host's row shows the guest count: mark it changed for those who read changes
    since a moment (the door's roster updates)."""
    async with service.session_maker() as session, session.begin():
        await session.execute(
            update(Registration)
            .where(Registration.id == host_id)
            .values(updated_at=datetime.now(UTC))
        )


async def release_guests(
    service: RegistrationService, event_id: UUID, platform: str, source_external_id: str
) -> int:
    """The platform registration that brought them is gone: so are its guests' seats."""
    rows = await active_guests(service, event_id, platform, source_external_id)
    if not rows:
        return 0
    async with unavailable_on_failure():
        released = await _release(service, event_id, rows)
        for host_id in {r.guest_of_id for r in rows if r.guest_of_id}:
            await _touch(service, host_id)
    await service.promote_waitlist(event_id)
    await service.hooks.fire(event_id, platform)
    return released


async def _rehost(service: RegistrationService, guest_ids: list[UUID], host_id: UUID) -> None:
    """The person's place moved (the first channel cancelled, another one holds it now)."""
    async with service.session_maker() as session, session.begin():
        for guest_id in guest_ids:
            guest = await session.get(Registration, guest_id, with_for_update=True)
            if guest is not None:
                guest.guest_of_id = host_id


async def _release(service: RegistrationService, event_id: UUID, rows: list[Registration]) -> int:
    async with service.session_maker() as session, session.begin():
        locked = await session.scalars(
            select(Registration)
            .where(
                Registration.id.in_([r.id for r in rows]),
                Registration.status == RegistrationStatus.CONFIRMED,
            )
            .with_for_update()
        )
        places = await service.end_guest_seats(session, locked)
    for keys, seat_no in places:
        await service._forget_place(event_id, keys, seat_no)
    return len(places)


async def _take(
    service: RegistrationService,
    event_id: UUID,
    *,
    host_id: UUID,
    platform: str,
    external_id: str,
    listing_id: UUID | None,
) -> bool | None:
    """One guest seat, taken the way any platform registration is (the platform already
    accepted it): a shared seat, else a free reserved one, else over capacity.
    True if over capacity, False if seated, None if the event is closed."""
    keys = (service.keys.guest(platform, external_id),)
    for _ in range(service.max_attempts):
        result: Raced = await service._gated(
            event_id, lambda: service.inventory.admit_past_mirror(event_id, keys, platform)
        )
        if isinstance(result, Closed):
            return None
        if isinstance(result, Already):
            # Redis holds this guest but the ledger does not: Redis is stale.
            await service._rebuild(event_id, result.generation)
            continue
        over = isinstance(result, OverCapacity)
        seat_no = 0 if isinstance(result, OverCapacity) else result.seat_no
        state = PlaceState.OVER_CAPACITY if over else PlaceState.CONFIRMED
        try:
            await _insert(
                service,
                event_id,
                host_id=host_id,
                platform=platform,
                external_id=external_id,
                listing_id=listing_id,
                seat_no=seat_no,
                over_capacity=over,
                past_mirror=over or bool(getattr(result, "raced", False)),
            )
        except IntegrityError as exc:
            await service._give_back(event_id, keys, seat_no, state)
            if constraint_of(exc) in SEAT_GUARDS:
                await service._rebuild(event_id, result.generation)
                continue
            raise RegistrationUnavailable() from exc
        except BaseException:
            await service._give_back(event_id, keys, seat_no, state)
            raise
        return over
    raise RegistrationUnavailable()


async def _insert(
    service: RegistrationService,
    event_id: UUID,
    *,
    host_id: UUID,
    platform: str,
    external_id: str,
    listing_id: UUID | None,
    seat_no: int,
    over_capacity: bool,
    past_mirror: bool,
) -> None:
    async with service.session_maker() as session, session.begin():
        host = await session.get(Registration, host_id)
        session.add(
            Registration(
                event_id=event_id,
                member_id=None,
                guest_of_id=host_id,
                listing_id=listing_id,
                channel=platform,
                status=RegistrationStatus.CONFIRMED,
                seat_no=seat_no or None,
                over_capacity=over_capacity,
                past_mirror=past_mirror,
                external_id=external_id,
                ticket_token=new_ticket_token(),
                name=f"Guest of {host.name}"[:200] if host is not None else "Guest",
                email=None,
                confirmed_at=datetime.now(UTC),
            )
        )
