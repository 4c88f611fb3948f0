"""The one small interface every platform client implements, and the shapes it speaks.

Clients translate each platform's vocabulary into these types so that services and jobs
never see a platform's own JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal, Protocol

RemoteStatus = Literal["going", "waitlist", "cancelled"]
RemoteEventStatus = Literal["draft", "live", "cancelled", "ended"]


class RemoteListingState(StrEnum):
    """What a platform listing offers its visitors: the values of models.ListingState, which
    stores it; a client reports it here because platforms import nothing of the product."""

    OPEN = "open"
    SOLD_OUT = "sold_out"
    WAITLIST = "waitlist"


@dataclass(frozen=True, slots=True)
class RemoteEvent:
    external_id: str
    url: str
    title: str
    description: str  # markdown or plain text (HTML is reduced to text)
    starts_at: datetime  # timezone-aware
    ends_at: datetime | None
    timezone: str  # IANA name
    venue_name: str | None
    address: str | None
    city: str | None
    country: str | None
    lat: float | None
    lon: float | None
    online_url: str | None
    cover_url: str | None
    capacity: int | None  # the sellable limit the platform enforces; None = unlimited or unknown
    going_count: int  # the platform's own count of people going (k_p)
    waitlist_count: int
    status: RemoteEventStatus
    listing_state: RemoteListingState


@dataclass(frozen=True, slots=True)
class RemoteRegistration:
    external_id: str
    member_external_id: str  # the platform's key for the person (Eventbrite: lower-cased email)
    name: str
    email: str | None
    status: RemoteStatus
    checked_in_at: datetime | None
    updated_at: datetime | None
    # Seats this registration takes on the platform: the person and the guests they bring
    # (Meetup guestsCount, Eventbrite tickets of one order bought by one person).
    seats: int = 1
    # False when the platform showed only part of a group (an incremental page holding some
    # of an order's tickets): the seats are then a lower bound, never a reason to release.
    seats_exact: bool = True
    # Other ids the same registration was recorded under before (Eventbrite attendee ids).
    aliases: tuple[str, ...] = ()
    # The member's profile photo (Meetup's memberPhoto); None where the platform gives none.
    photo_url: str | None = None


@dataclass(frozen=True, slots=True)
class RegistrationPage:
    items: list[RemoteRegistration]
    next_cursor: str | None  # None once the listing (or the incremental window) is exhausted


@dataclass(frozen=True, slots=True)
class PushResult:
    """What the platform reports right after a push."""

    limit: int | None  # None = no limit
    going_count: int
    state: RemoteListingState


@dataclass(frozen=True, slots=True)
class EventDraft:
    """What we can ask a platform to create; each client uses the fields its API takes."""

    title: str
    description: str  # markdown
    starts_at: datetime  # timezone-aware
    ends_at: datetime
    timezone: str
    capacity: int | None = None
    venue_name: str | None = None
    address: str | None = None
    city: str | None = None
    country: str | None = None
    online_url: str | None = None


@dataclass(frozen=True, slots=True)
class RemoteAccount:
    id: str
    name: str
    email: str | None = None


class PlatformClient(Protocol):
    platform: str

    async def get_event(self, external_id: str) -> RemoteEvent: ...

    async def set_limit(self, external_id: str, limit: int) -> PushResult:
        """Make the platform accept at most ``limit`` people in total (absolute, idempotent)."""
        ...

    async def set_state(
        self,
        external_id: str,
        state: RemoteListingState,
        going_count: int,
        *,
        limit: int | None = None,
    ) -> PushResult:
        """Switch the listing to sold out / waitlist, or reopen it.

        ``going_count`` is the platform's own count as last seen; ``limit`` (when reopening)
        is the limit to apply as the listing opens, so it never opens without one.
        """
        ...

    async def list_registrations(
        self,
        external_id: str,
        cursor: str | None = None,
        *,
        changed_since: datetime | None = None,
    ) -> RegistrationPage: ...

    async def create_event(self, draft: EventDraft) -> RemoteEvent: ...

    async def mark_checkin(self, external_id: str, registration_id: str) -> None: ...

    async def whoami(self) -> str: ...

    async def account(self) -> RemoteAccount: ...

    async def aclose(self) -> None: ...


MAX_PHOTO_URL = 500


def photo_url(value: object) -> str | None:
    """A profile photo's address as pages may show it: https only (the pages' security policy
    allows no other images from elsewhere), of a sane length; anything else is no photo."""
    if isinstance(value, str) and value.startswith("https://") and len(value) <= MAX_PHOTO_URL:
        return value
    return None
