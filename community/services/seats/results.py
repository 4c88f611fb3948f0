"""What the registration service answers: a place taken, given back or held, a seat change,
and who is registering (validated, with their Traffic Cop keys)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from community.models import Registration, RegistrationStatus
from community.services.seats.inventory import SeatMove


@dataclass(frozen=True)
class Registered:
    registration_id: UUID
    event_id: UUID
    status: RegistrationStatus
    channel: str
    ticket_token: str
    seat_no: int | None
    waitlist_position: int | None = None
    over_capacity: bool = False
    past_mirror: bool = False


@dataclass(frozen=True)
class Cancelled:
    registration_id: UUID
    event_id: UUID
    promoted: list[Registered] = field(default_factory=list)


@dataclass(frozen=True)
class HeldSeat:
    event_id: UUID
    seat_no: int
    expires_at: datetime


@dataclass(frozen=True)
class SeatChange:
    moves: list[SeatMove]
    promoted: list[Registered]
    seated_over_capacity: list[UUID] = field(default_factory=list)


@dataclass(frozen=True)
class Registrant:
    name: str
    email: str | None
    channel: str
    platform_member_id: str | None
    keys: tuple[str, ...]


def registered(reg: Registration, position: int | None = None) -> Registered:
    """The answer for a ledger row (`position` on the waitlist, when it waits)."""
    return Registered(
        registration_id=reg.id,
        event_id=reg.event_id,
        status=RegistrationStatus(reg.status),
        channel=reg.channel,
        ticket_token=reg.ticket_token,
        seat_no=reg.seat_no,
        waitlist_position=position,
        over_capacity=reg.over_capacity,
        past_mirror=reg.past_mirror,
    )
