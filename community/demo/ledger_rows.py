"""Sample events and registrations written straight into the ledger, for the check-in tests
and the check-in benchmark (one copy both may import: the benchmarks import nothing from
tests/).

Rows go in through the models' tables (one bulk INSERT each), bypassing the Traffic Cop:
check-in only needs registrations to exist, whatever took their seats.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession
from uuid_utils.compat import uuid7

from community.models import Channel, Event, EventStatus, Member, Registration, RegistrationStatus

CHANNELS = (Channel.NATIVE, Channel.MEETUP, Channel.EVENTBRITE, Channel.LUMA)


@dataclass(frozen=True)
class Person:
    registration_id: UUID
    name: str
    email: str
    channel: str
    status: str


async def make_event(
    session: AsyncSession,
    *,
    title: str = "Rust & Coffee Night",
    capacity: int = 100,
    timezone: str = "Europe/Berlin",
    starts_in: timedelta = timedelta(hours=2),
    owner_id: UUID | None = None,
    status: EventStatus = EventStatus.PUBLISHED,
) -> Event:
    starts_at = datetime.now(UTC) + starts_in
    event = Event(
        slug=f"checkin-{secrets.token_hex(5)}",
        title=title,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=3),
        timezone=timezone,
        venue_name="Community Hall",
        city="Berlin",
        status=status,
        capacity=capacity,
        owner_id=owner_id,
    )
    session.add(event)
    await session.commit()
    return event


async def add_people(
    session: AsyncSession,
    event: Event,
    names: list[str],
    *,
    status: str = RegistrationStatus.CONFIRMED,
    first_seat: int = 1,
    channels: tuple[str, ...] = CHANNELS,
) -> list[Person]:
    """Register `names` at `event` (seats numbered from `first_seat` when confirmed)."""
    tag = secrets.token_hex(4)
    people: list[Person] = []
    members: list[dict[str, object]] = []
    registrations: list[dict[str, object]] = []
    now = datetime.now(UTC)
    for index, name in enumerate(names):
        member_id, registration_id = uuid7(), uuid7()
        email = f"{name.lower().replace(' ', '.')}.{tag}{index}@example.org"
        channel = channels[index % len(channels)]
        members.append({"id": member_id, "name": name, "email": email})
        registrations.append(
            {
                "id": registration_id,
                "event_id": event.id,
                "member_id": member_id,
                "channel": channel,
                "status": status,
                "seat_no": first_seat + index if status == RegistrationStatus.CONFIRMED else None,
                "over_capacity": False,
                "external_id": None if channel == Channel.NATIVE else f"{channel}-{tag}-{index}",
                "ticket_token": secrets.token_urlsafe(24),
                "name": name,
                "email": email,
                "confirmed_at": now if status == RegistrationStatus.CONFIRMED else None,
                "checked_in_by": "",
            }
        )
        people.append(Person(registration_id, name, email, channel, status))
    for start in range(0, len(names), 2000):  # keep each statement's parameters in bounds
        await session.execute(insert(Member), members[start : start + 2000])
        await session.execute(insert(Registration), registrations[start : start + 2000])
    await session.commit()
    return people


async def add_person(
    session: AsyncSession,
    event: Event,
    name: str,
    *,
    status: str = RegistrationStatus.CONFIRMED,
    seat: int = 1,
    channel: str = Channel.NATIVE,
) -> Person:
    (person,) = await add_people(
        session, event, [name], status=status, first_seat=seat, channels=(channel,)
    )
    return person
