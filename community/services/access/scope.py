"""Who may see what: the scope of each role, in one place.

- The owner sees and manages everything.
- An organiser sees and manages the events they own (`Event.owner_id`: the events they
  created or imported, or that the owner handed to them), the people registered for those
  events, and those events' sync log. The outbox (every e-mail sent) is the owner's.
- Door staff see, at the door only, published events on their day (from 12 hours before the
  start to 12 hours after the end) and no e-mail addresses.

A refusal reads as "no such event/member" (404): nobody learns what exists outside their scope.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID

from sqlalchemy import ColumnElement, exists, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from community.models import Event, EventStatus, Member, Registration, Role, User

DOOR_OPENS = timedelta(hours=12)  # before the start
DOOR_CLOSES = timedelta(hours=12)  # after the end
DEFAULT_LENGTH = timedelta(hours=2)  # an event without an end, as the pages assume


class Who(Protocol):
    """A signed-in user (admin pages) or the door's lighter copy of one."""

    @property
    def id(self) -> UUID: ...

    @property
    def role(self) -> str: ...


async def possible_managers(session: AsyncSession) -> list[User]:
    """Accounts an event can be handed to: active owners and organisers."""
    return list(
        await session.scalars(
            select(User)
            .where(User.is_active.is_(True), User.role.in_([Role.OWNER, Role.ORGANISER]))
            .order_by(User.name)
        )
    )


async def hand_over(session: AsyncSession, event: Event, user_id: UUID) -> User:
    """Make `user_id` the event's manager (the caller commits); ValueError if they cannot be."""
    user = await session.get(User, user_id)
    if user is None or not user.is_active or user.role not in (Role.OWNER, Role.ORGANISER):
        raise ValueError("Choose an active organiser.")
    event.owner_id = user.id
    return user


def sees_everything(who: Who) -> bool:
    return who.role == Role.OWNER


def manages(who: Who, event: Event) -> bool:
    return sees_everything(who) or (event.owner_id is not None and event.owner_id == who.id)


def managed_events(who: Who) -> ColumnElement[bool]:
    """Events this user manages in the admin."""
    return true() if sees_everything(who) else Event.owner_id == who.id


def visible_members(who: Who) -> ColumnElement[bool]:
    """Member profiles this user may see: registered for one of the events they manage."""
    if sees_everything(who):
        return true()
    return exists(
        select(Registration.id)
        .join(Event, Event.id == Registration.event_id)
        .where(Registration.member_id == Member.id, Event.owner_id == who.id)
    )


def on_the_day(now: datetime) -> ColumnElement[bool]:
    """Published, and within its door window around now."""
    ends = func.coalesce(Event.ends_at, Event.starts_at + DEFAULT_LENGTH)
    return (
        (Event.status == EventStatus.PUBLISHED)
        & (Event.starts_at <= now + DOOR_OPENS)
        & (ends >= now - DOOR_CLOSES)
    )


def door_events(who: Who, now: datetime) -> ColumnElement[bool]:
    """Events this user may open at the door."""
    if who.role == Role.DOOR:
        return on_the_day(now)
    return managed_events(who)


def door_sees_emails(who: Who) -> bool:
    return who.role != Role.DOOR


# The same rule on a raw connection (the check-in hot path): $1 the event, $2 the user.
DOOR_EVENT_SQL = {
    Role.OWNER: "SELECT 1 FROM events WHERE id = $1 AND deleted_at IS NULL",
    Role.ORGANISER: "SELECT 1 FROM events WHERE id = $1 AND deleted_at IS NULL AND owner_id = $2",
    Role.DOOR: (
        "SELECT 1 FROM events WHERE id = $1 AND deleted_at IS NULL AND status = 'published'"
        f" AND starts_at <= now() + interval '{DOOR_OPENS.seconds // 3600} hours'"
        f" AND coalesce(ends_at, starts_at + interval '{DEFAULT_LENGTH.seconds // 3600} hours')"
        f" >= now() - interval '{DOOR_CLOSES.seconds // 3600} hours'"
    ),
}
