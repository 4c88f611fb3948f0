"""Writing a place into the ledger: the row for a seat the Traffic Cop gave, its ticket token,
and the guards the database refuses a row with (docs/inventory.md).

PostgreSQL is the last line of defence: a seat number belongs to one active registration,
seats never exceed the capacity and platforms never exceed C - R, whatever Redis says. When a
guard in SEAT_GUARDS refuses a row, Redis was stale: the caller rebuilds it and tries again.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import func, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from community.models import Registration, RegistrationStatus
from community.services.mail.outbox import ensure_ticket_row
from community.services.people.members import resolve_member
from community.services.seats.inventory import PlaceState
from community.services.seats.results import Registered, Registrant, registered

MAX_EXTERNAL_ID = 120
# A guest's platform id: the id of the registration that brought them, then "#g<n>".
GUEST_MARK = "#g"

# Ledger guards that mean "Redis handed out a seat it did not have": rebuild and retry.
SEAT_GUARDS = frozenset(
    {
        "uq_registrations_active_seat",
        "ck_registrations_seat_within_capacity",
        "ck_registrations_platform_within_shared",
    }
)
ACTIVE_MEMBER = "uq_registrations_active_member"
EXTERNAL_REGISTRATION = "uq_registrations_external"


def new_ticket_token() -> str:
    return secrets.token_urlsafe(32)


def constraint_of(exc: IntegrityError) -> str:
    """The name of the constraint (or guard trigger) the database refused with."""
    orig = getattr(exc, "orig", None)
    for candidate in (orig, getattr(orig, "__cause__", None)):
        name = getattr(candidate, "constraint_name", None)
        if name:
            return str(name)
    return ""


def place_state(status: RegistrationStatus, over_capacity: bool) -> PlaceState:
    if status == RegistrationStatus.WAITLISTED:
        return PlaceState.WAITLISTED
    return PlaceState.OVER_CAPACITY if over_capacity else PlaceState.CONFIRMED


async def waitlist_position(session: AsyncSession, reg: Registration) -> int:
    """1 for the first in line; by the time people joined, first come first served."""
    count = await session.scalar(
        select(func.count())
        .select_from(Registration)
        .where(
            Registration.event_id == reg.event_id,
            Registration.status == RegistrationStatus.WAITLISTED,
            tuple_(Registration.waitlisted_at, Registration.id) <= (reg.waitlisted_at, reg.id),
        )
    )
    return int(count or 0)


async def add_registration(
    session: AsyncSession,
    event_id: UUID,
    who: Registrant,
    *,
    status: RegistrationStatus,
    seat_no: int,
    over_capacity: bool = False,
    past_mirror: bool = False,
    external_id: str | None = None,
    listing_id: UUID | None = None,
    ticket_mail: bool = False,
) -> Registered:
    """Write the place the Traffic Cop gave, in the caller's transaction (the caller commits,
    or gives the seat back when the ledger refuses it)."""
    now = datetime.now(UTC)
    member = await resolve_member(
        session,
        name=who.name,
        email=who.email,
        platform=who.channel,
        external_id=who.platform_member_id,
    )
    reg = Registration(
        event_id=event_id,
        member_id=member.id,
        listing_id=listing_id,
        channel=who.channel,
        status=status,
        seat_no=seat_no or None,
        over_capacity=over_capacity,
        past_mirror=past_mirror,
        external_id=external_id,
        ticket_token=new_ticket_token(),
        name=who.name,
        email=who.email,
        confirmed_at=now if status == RegistrationStatus.CONFIRMED else None,
        waitlisted_at=now if status == RegistrationStatus.WAITLISTED else None,
    )
    session.add(reg)
    await session.flush()
    position = None
    if status == RegistrationStatus.WAITLISTED:
        position = await waitlist_position(session, reg)
    if ticket_mail and who.email:
        kind = "waitlisted" if status == RegistrationStatus.WAITLISTED else "confirmed"
        await ensure_ticket_row(session, reg.id, kind, who.email)
    # Built before the commit, so it holds whether or not the session expires objects.
    return registered(reg, position)
