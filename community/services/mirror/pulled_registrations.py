"""Registrations pulled from a platform listing, turned into places and member profiles.

Each platform registration goes through the Traffic Cop as that platform's channel
(RegistrationService.record_platform_registration): it takes a shared seat, or races past the
mirror (flagged), and its person is resolved to one member profile, by the platform's member
id first, then by normalised e-mail. A person already holding a place through another channel
keeps that one seat; the platform identity is linked to their profile instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.models import Registration, RegistrationStatus
from community.platforms.base import RemoteRegistration
from community.services.people.members import (
    clean_name,
    find_member,
    normalise_email,
    remember_photo,
    resolve_member,
)
from community.services.seats.guests import release_guests, sync_guests
from community.services.seats.refusals import (
    AlreadyCancelled,
    AlreadyRegistered,
    InvalidRegistration,
    RegistrationClosed,
    TicketNotFound,
)
from community.services.seats.registrations import RegistrationService

log = logging.getLogger("community.pull")
ACTIVE = (RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED)
MAX_EXTERNAL_ID = 120
# How long to look again for a place another pull is writing (seconds, about 1.5 in all).
PLACE_PAUSES = (0.02, 0.05, 0.1, 0.2, 0.4, 0.8)


class Ingested(StrEnum):
    RECORDED = "recorded"  # a new place on a shared seat
    RACED = "raced"  # accepted by the platform past the mirror; took a reserved seat
    OVER_CAPACITY = "over_capacity"  # past the mirror with no seat left at all
    LINKED = "linked"  # the person already holds a place: identity linked, no second seat
    GUESTS = "guests"  # the same person, with more or fewer guests than before
    CANCELLED = "cancelled"  # gone on the platform: the seat was released
    KNOWN = "known"  # nothing new
    CLOSED = "closed"  # the event takes no registrations (draft, cancelled, over)
    INVALID = "invalid"  # the platform gave too little to know who it is


@dataclass
class PullTally:
    counts: Counter[str] = field(default_factory=Counter)
    going: int = 0  # items the platform lists as going (its own count on a full pull)

    def add(self, outcome: Ingested) -> None:
        self.counts[outcome.value] += 1

    @property
    def changed(self) -> bool:
        return any(
            self.counts[k]
            for k in (
                Ingested.RECORDED,
                Ingested.RACED,
                Ingested.OVER_CAPACITY,
                Ingested.CANCELLED,
                Ingested.GUESTS,
            )
        )

    def describe(self) -> str:
        """Words for the sync log: counts only, never names or addresses."""
        words = [
            f"{self.counts[Ingested.RECORDED]} new",
            f"{self.counts[Ingested.CANCELLED]} cancelled",
        ]
        if self.counts[Ingested.LINKED]:
            words.append(
                f"{self.counts[Ingested.LINKED]} already holding a seat through another channel"
                " (linked, counted once)"
            )
        if self.counts[Ingested.GUESTS]:
            words.append(f"{self.counts[Ingested.GUESTS]} with a changed number of guests")
        raced = self.counts[Ingested.RACED] + self.counts[Ingested.OVER_CAPACITY]
        if raced:
            words.append(
                f"{raced} past the mirror ({self.counts[Ingested.OVER_CAPACITY]} over capacity)"
            )
        for extra in (Ingested.CLOSED, Ingested.INVALID):
            if self.counts[extra]:
                words.append(f"{self.counts[extra]} not recorded ({extra.value})")
        return ", ".join(words) + "."


async def _existing(
    session: AsyncSession,
    event_id: UUID,
    platform: str,
    external_id: str,
    aliases: tuple[str, ...] = (),
) -> Registration | None:
    """The person's place from this platform registration; `aliases` are ids it was known
    by before (an Eventbrite order recorded by one of its attendee ids). Active first."""
    rows = await session.scalars(
        select(Registration).where(
            Registration.event_id == event_id,
            Registration.channel == platform,
            Registration.guest_of_id.is_(None),
            Registration.external_id.in_([external_id[:MAX_EXTERNAL_ID], *aliases]),
        )
    )
    found = sorted(rows, key=lambda r: (r.status not in ACTIVE, r.external_id != external_id))
    return found[0] if found else None


async def _rekey(
    session_maker: async_sessionmaker[AsyncSession], registration_id: UUID, external_id: str
) -> None:
    async with session_maker() as session, session.begin():
        reg = await session.get(Registration, registration_id, with_for_update=True)
        if reg is not None:
            reg.external_id = external_id[:MAX_EXTERNAL_ID]


async def _retire_external_id(
    session_maker: async_sessionmaker[AsyncSession], registration_id: UUID, external_id: str
) -> None:
    """A cancelled place whose platform id comes back (re-registration after cancelling):
    the old row keeps its history under a suffixed id, so the new place can take the id."""
    async with session_maker() as session, session.begin():
        old = await session.get(Registration, registration_id, with_for_update=True)
        if old is not None and old.status == RegistrationStatus.CANCELLED:
            suffix = f"~{registration_id.hex[:12]}"
            old.external_id = external_id[: MAX_EXTERNAL_ID - len(suffix)] + suffix


async def _link_identity(
    session_maker: async_sessionmaker[AsyncSession], platform: str, item: RemoteRegistration
) -> None:
    """Attach this platform identity to the person's existing profile (one member)."""
    if not item.email:
        return  # matched by the platform's member id: that identity is linked already
    try:
        email = normalise_email(item.email)
        name = clean_name(item.name or "-")
    except ValueError:
        return
    async with session_maker() as session, session.begin():
        await resolve_member(
            session,
            name=name,
            email=email,
            platform=platform,
            external_id=item.member_external_id or None,
        )


async def ingest(
    service: RegistrationService,
    *,
    event_id: UUID,
    listing_id: UUID,
    platform: str,
    item: RemoteRegistration,
) -> Ingested:
    """Apply one platform registration to the ledger and the Traffic Cop: the person takes
    one place (or is linked to the one they hold), and each guest they bring takes a seat."""
    ingested = await _ingest(
        service, event_id=event_id, listing_id=listing_id, platform=platform, item=item
    )
    if item.status == "going" and item.member_external_id:
        async with service.session_maker() as session, session.begin():
            await remember_photo(session, platform, item.member_external_id, item.photo_url)
    return ingested


async def _ingest(
    service: RegistrationService,
    *,
    event_id: UUID,
    listing_id: UUID,
    platform: str,
    item: RemoteRegistration,
) -> Ingested:
    async with service.session_maker() as session:
        existing = await _existing(session, event_id, platform, item.external_id, item.aliases)
    active = existing is not None and existing.status in ACTIVE
    if item.status != "going":
        # Cancelled, or moved to the platform's waitlist: no longer holding a platform seat.
        released = await release_guests(service, event_id, platform, item.external_id)
        if not active:
            return Ingested.CANCELLED if released else Ingested.KNOWN
        assert existing is not None
        try:
            await service.cancel(existing.ticket_token, by="platform")
        except (AlreadyCancelled, TicketNotFound):
            return Ingested.KNOWN
        return Ingested.CANCELLED
    if active:
        assert existing is not None
        if existing.external_id != item.external_id:
            await _rekey(service.session_maker, existing.id, item.external_id)
        changed = await _guests(service, event_id, listing_id, platform, item, existing.id)
        return Ingested.GUESTS if changed else Ingested.KNOWN
    if existing is not None:
        await _retire_external_id(service.session_maker, existing.id, existing.external_id or "")
    try:
        recorded = await service.record_platform_registration(
            event_id,
            platform=platform,
            name=item.name or "Guest",
            email=item.email,
            platform_member_id=item.member_external_id or "",
            external_id=item.external_id[:MAX_EXTERNAL_ID],
            listing_id=listing_id,
        )
    except AlreadyRegistered:
        await _link_identity(service.session_maker, platform, item)
        host_id = await _place_held(service, event_id, platform, item)
        if host_id is not None:
            await _guests(service, event_id, listing_id, platform, item, host_id)
        return Ingested.LINKED
    except RegistrationClosed:
        return Ingested.CLOSED
    except InvalidRegistration as exc:
        log.info("platform registration skipped", extra={"platform": platform, "field": exc.field})
        return Ingested.INVALID
    await _guests(service, event_id, listing_id, platform, item, recorded.registration_id)
    if recorded.over_capacity:
        return Ingested.OVER_CAPACITY
    if recorded.past_mirror:
        return Ingested.RACED
    return Ingested.RECORDED


async def _guests(
    service: RegistrationService,
    event_id: UUID,
    listing_id: UUID,
    platform: str,
    item: RemoteRegistration,
    host_id: UUID,
) -> bool:
    change = await sync_guests(
        service,
        event_id,
        host_id=host_id,
        platform=platform,
        source_external_id=item.external_id,
        wanted=item.seats - 1,
        listing_id=listing_id,
        only_more=not item.seats_exact,
    )
    return change.changed


async def _place_held(
    service: RegistrationService, event_id: UUID, platform: str, item: RemoteRegistration
) -> UUID | None:
    """The active place of the person this platform registration belongs to.

    Another channel's pull may have taken the person's place in Redis and not yet written
    it: it is then looked for again for a moment, so their guests are not left out."""
    for pause in (0.0, *PLACE_PAUSES):
        await asyncio.sleep(pause)
        async with service.session_maker() as session:
            member = await find_member(
                session,
                email=_normalised(item.email),
                platform=platform,
                external_id=item.member_external_id or None,
            )
            found = None
            if member is not None:
                found = await session.scalar(
                    select(Registration.id).where(
                        Registration.event_id == event_id,
                        Registration.member_id == member.id,
                        Registration.status.in_(ACTIVE),
                    )
                )
        if found is not None:
            return found
    return None


def _normalised(email: str | None) -> str | None:
    try:
        return normalise_email(email) if email else None
    except ValueError:
        return None
