"""Closed vocabularies shared by models, services and templates.

Stored as short strings with CHECK constraints, so the database refuses anything else.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    ORGANISER = "organiser"
    DOOR = "door"


class EventStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    CANCELLED = "cancelled"


class Theme(StrEnum):
    MEETUP = "meetup"
    LUMA = "luma"


class SoldOutMode(StrEnum):
    SOLD_OUT = "sold_out"
    WAITLIST = "waitlist"


class Allocation(StrEnum):
    """How the shared seats are offered on the platform listings."""

    # Split among the listings: together they can never sell more than the pool.
    STRICT = "strict"
    # Every listing may sell the whole pool: faster, but they may oversell until the next pull.
    SHARED = "shared"


class Platform(StrEnum):
    MEETUP = "meetup"
    EVENTBRITE = "eventbrite"
    LUMA = "luma"


# How each platform is named to people: admin pages, e-mails, the sync log, error messages.
# The one definition; channel labels add the native page's own name to these.
PLATFORM_LABELS: dict[str, str] = {
    Platform.MEETUP.value: "Meetup",
    Platform.EVENTBRITE.value: "Eventbrite",
    Platform.LUMA.value: "Luma",
}


class Channel(StrEnum):
    """Where a registration came from: our own page or one of the platforms."""

    NATIVE = "native"
    MEETUP = "meetup"
    EVENTBRITE = "eventbrite"
    LUMA = "luma"


class RegistrationStatus(StrEnum):
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"


class ListingState(StrEnum):
    """What the platform listing currently offers to its visitors."""

    OPEN = "open"
    SOLD_OUT = "sold_out"
    WAITLIST = "waitlist"


class SyncState(StrEnum):
    IN_STEP = "in_step"
    PUSHING = "pushing"
    ERROR = "error"


def allowed_values_check(column: str, enum: type[StrEnum]) -> str:
    """The SQL of a CHECK constraint that lets `column` hold only the values of `enum`."""
    values = ", ".join(f"'{member.value}'" for member in enum)
    return f"{column} IN ({values})"
