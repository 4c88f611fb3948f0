"""Giving a place back: by ticket token, for the attendee, the organiser or the platform; the
guests who came with the person go with them, or follow them to the place they still hold on
another platform; and the seat goes to whoever waits for it (services.seats.waitlist)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

from sqlalchemy import select, update

from community.models import (
    PLATFORM_LABELS,
    Channel,
    Event,
    EventStatus,
    MemberIdentity,
    Registration,
    RegistrationStatus,
)
from community.services.events.manage import event_end
from community.services.mail.outbox import ensure_ticket_row
from community.services.seats.hooks import RegistrationHooks
from community.services.seats.inventory import PlaceState
from community.services.seats.ledger import registration_keys
from community.services.seats.ledger_writes import GUEST_MARK, end_guest_seats, place_state
from community.services.seats.refusals import (
    AlreadyCancelled,
    AlreadyRegistered,
    InvalidRegistration,
    NotCancellable,
    RegistrationClosed,
    TicketNotFound,
    unavailable_on_failure,
)
from community.services.seats.registering import Registering
from community.services.seats.results import Cancelled
from community.services.seats.waitlist import Waitlist

TICKET_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


@dataclass(frozen=True)
class _Host:
    member_id: UUID | None
    name: str
    email: str | None


def attendee_cancel_refusal(
    reg: Registration, event: Event | None, now: datetime | None = None
) -> str | None:
    """Why the person holding this ticket cannot cancel it themselves, or None if they can.

    The one rule for the ticket page and the JSON API: a platform place is changed on the
    platform (else it stays "going" there), a checked-in person has used their ticket, and a
    past or cancelled event has nothing left to give back.
    """
    if reg.channel != Channel.NATIVE:
        label = PLATFORM_LABELS.get(reg.channel, reg.channel.title())
        return f"This registration was made on {label}; cancel it there."
    if reg.checked_in_at is not None:
        return "This ticket has been used at the door; it can no longer be cancelled."
    if event is None or event.status == EventStatus.CANCELLED:
        return "This event was cancelled; there is nothing left to cancel."
    if event_end(event) <= (now or datetime.now(UTC)):
        return "This event is over; its registrations can no longer be cancelled."
    return None


class Cancelling:
    """Gives places back; guests follow, the waitlist is seated, the listeners told."""

    def __init__(
        self, registering: Registering, waitlist: Waitlist, cancellations: RegistrationHooks
    ) -> None:
        self.registering = registering
        self.waitlist = waitlist
        self.keeper = registering.keeper
        self.cancellations = cancellations

    async def cancel(
        self,
        ticket_token: str,
        *,
        by: Literal["attendee", "organiser", "platform"] = "attendee",
        ticket_mail: bool = False,
    ) -> Cancelled:
        """Cancel by ticket token; the seat returns and the first person waiting gets it.

        An attendee (ticket page, JSON API) is held to `attendee_cancel_refusal`; an
        organiser, or the platform the registration came from, may cancel any active place.
        With `ticket_mail`, the "cancelled" e-mail's outbox row is written with the change.
        """
        if not TICKET_TOKEN_RE.match(ticket_token or ""):
            raise TicketNotFound()
        async with unavailable_on_failure():
            async with self.keeper.session_maker() as session, session.begin():
                reg = await session.scalar(
                    select(Registration)
                    .where(Registration.ticket_token == ticket_token)
                    .with_for_update()
                )
                if reg is None:
                    raise TicketNotFound()
                if reg.status == RegistrationStatus.CANCELLED:
                    raise AlreadyCancelled()
                if by == "attendee":
                    event = await session.get(Event, reg.event_id)
                    refusal = attendee_cancel_refusal(reg, event)
                    if refusal is not None:
                        raise NotCancellable(refusal)
                keys = await registration_keys(session, self.keeper.keys, reg)
                state = place_state(RegistrationStatus(reg.status), reg.over_capacity)
                seat_no = (reg.seat_no or 0) if state == PlaceState.CONFIRMED else 0
                registration_id, event_id, channel = reg.id, reg.event_id, reg.channel
                reg.status = RegistrationStatus.CANCELLED
                reg.cancelled_at = datetime.now(UTC)
                host = _Host(reg.member_id, reg.name, reg.email)
                # Guests come and go with the person who brought them. Guests the person
                # brought through another platform (linked there) still hold tickets there.
                own_mark = f"{reg.external_id}{GUEST_MARK}" if reg.external_id else None
                own: list[Registration] = []
                elsewhere: list[Registration] = []
                for guest in await session.scalars(
                    select(Registration)
                    .where(
                        Registration.guest_of_id == registration_id,
                        Registration.status == RegistrationStatus.CONFIRMED,
                    )
                    .with_for_update()
                ):
                    mine = (
                        guest.channel == channel
                        and own_mark is not None
                        and (guest.external_id or "").startswith(own_mark)
                    )
                    (own if mine else elsewhere).append(guest)
                guests = await end_guest_seats(session, self.keeper.keys, own)
                moving = [(g.id, g.channel, g.external_id or "", g.listing_id) for g in elsewhere]
                if ticket_mail and reg.email:
                    await ensure_ticket_row(session, reg.id, "cancelled", reg.email)
            await self.keeper.forget_place(event_id, keys, seat_no)
            for guest_keys, guest_seat in guests:
                await self.keeper.forget_place(event_id, guest_keys, guest_seat)
            if moving:
                await self._rehome_guests(event_id, host, moving)
            promoted = await self.waitlist.promote_waitlist(event_id)
            await self.keeper.seats_changed(event_id, channel)
        await self.cancellations.fire(event_id, registration_id)
        return Cancelled(registration_id, event_id, promoted)

    async def _rehome_guests(
        self,
        event_id: UUID,
        host: _Host,
        guests: list[tuple[UUID, str, str, UUID | None]],
    ) -> None:
        """The person cancelled the place their guests hung on, but still holds tickets on
        another platform (where they were linked): that registration becomes their place and
        keeps its guests, so those seats are never given up while the platform counts them."""
        sources: dict[tuple[str, str], list[tuple[UUID, UUID | None]]] = {}
        for guest_id, platform, external_id, listing_id in guests:
            source = external_id.rpartition(GUEST_MARK)[0]
            sources.setdefault((platform, source), []).append((guest_id, listing_id))
        new_host: UUID | None = None
        stranded: list[UUID] = []
        for (platform, source), rows in sources.items():
            if new_host is None:
                new_host = await self._place_from(event_id, host, platform, source, rows[0][1])
            if new_host is None:
                stranded.extend(guest_id for guest_id, _ in rows)
                continue
            async with self.keeper.session_maker() as session, session.begin():
                await session.execute(
                    update(Registration)
                    .where(Registration.id.in_([guest_id for guest_id, _ in rows]))
                    .values(guest_of_id=new_host)
                )
        if stranded:
            async with self.keeper.session_maker() as session, session.begin():
                places = await end_guest_seats(
                    session,
                    self.keeper.keys,
                    await session.scalars(
                        select(Registration).where(Registration.id.in_(stranded)).with_for_update()
                    ),
                )
            for guest_keys, guest_seat in places:
                await self.keeper.forget_place(event_id, guest_keys, guest_seat)

    async def _place_from(
        self,
        event_id: UUID,
        host: _Host,
        platform: str,
        source: str,
        listing_id: UUID | None,
    ) -> UUID | None:
        """The person's place taken again, from their registration on `platform`."""
        if host.member_id is None:
            return None
        async with self.keeper.session_maker() as session:
            platform_member_id = await session.scalar(
                select(MemberIdentity.external_id).where(
                    MemberIdentity.member_id == host.member_id,
                    MemberIdentity.platform == platform,
                )
            )
        try:
            placed = await self.registering.record_platform_registration(
                event_id,
                platform=platform,
                name=host.name or "Guest",
                email=host.email,
                platform_member_id=platform_member_id or "",
                external_id=source,
                listing_id=listing_id,
            )
        except AlreadyRegistered:
            async with self.keeper.session_maker() as session:
                return await session.scalar(
                    select(Registration.id).where(
                        Registration.event_id == event_id,
                        Registration.member_id == host.member_id,
                        Registration.status.in_(
                            [RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED]
                        ),
                    )
                )
        except (RegistrationClosed, InvalidRegistration):
            return None
        return placed.registration_id
