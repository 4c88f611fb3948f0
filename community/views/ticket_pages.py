"""Read side of tickets: a registration found by its unguessable token, its QR code, its place
on the waitlist, and every registration of one person's profile for "my tickets"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import lazyload

from community.config import Settings
from community.models import (
    Event,
    EventStatus,
    Listing,
    Member,
    MemberIdentity,
    Registration,
    RegistrationStatus,
)
from community.services.events.manage import event_end
from community.services.seats.cancelling import attendee_cancel_refusal
from community.services.tickets import qr
from community.services.tickets.signatures import ticket_signer
from community.views.event_pages import CHANNEL_LABELS

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


@dataclass(frozen=True)
class TicketView:
    registration: Registration
    event: Event
    waitlist_position: int | None
    platform_url: str  # where a platform registration is changed (its listing), or ""

    @property
    def status(self) -> str:
        reg = self.registration
        if reg.status == RegistrationStatus.CONFIRMED and reg.checked_in_at is not None:
            return "checked_in"
        return reg.status

    @property
    def channel_label(self) -> str:
        return CHANNEL_LABELS.get(self.registration.channel, self.registration.channel)

    @property
    def is_native(self) -> bool:
        return self.registration.channel == "native"

    @property
    def is_past(self) -> bool:
        return event_end(self.event) <= datetime.now(UTC)

    @property
    def can_cancel(self) -> bool:
        """Whether the person may give the place back here (the service's rule, see
        `attendee_cancel_refusal`); platform places are changed on the platform."""
        return self.registration.status != RegistrationStatus.CANCELLED and (
            attendee_cancel_refusal(self.registration, self.event) is None
        )


def valid_token(token: str) -> bool:
    return bool(TOKEN_RE.match(token or ""))


async def waitlist_position(session: AsyncSession, registration: Registration) -> int | None:
    """1 for the next person to get a seat. Order: when they joined, then id (a stable tiebreak)."""
    if registration.status != RegistrationStatus.WAITLISTED:
        return None
    joined = registration.waitlisted_at or registration.created_at
    ahead = await session.scalar(
        select(func.count())
        .select_from(Registration)
        .where(
            Registration.event_id == registration.event_id,
            Registration.status == RegistrationStatus.WAITLISTED,
            or_(
                func.coalesce(Registration.waitlisted_at, Registration.created_at) < joined,
                and_(
                    func.coalesce(Registration.waitlisted_at, Registration.created_at) == joined,
                    Registration.id < registration.id,
                ),
            ),
        )
    )
    return int(ahead or 0) + 1


async def find_ticket(session: AsyncSession, token: str) -> TicketView | None:
    if not valid_token(token):
        return None
    row = (
        await session.execute(
            select(Registration, Event)
            .join(Event, Event.id == Registration.event_id)
            .options(lazyload(Event.listings))
            .where(Registration.ticket_token == token, Event.deleted_at.is_(None))
        )
    ).first()
    if row is None:
        return None
    registration, event = row
    platform_url = ""
    if registration.listing_id is not None:
        platform_url = (
            await session.scalar(select(Listing.url).where(Listing.id == registration.listing_id))
            or ""
        )
    return TicketView(
        registration=registration,
        event=event,
        waitlist_position=await waitlist_position(session, registration),
        platform_url=platform_url,
    )


def qr_payload(settings: Settings, registration: Registration) -> str:
    """The signed token the door scanner checks (see services.tickets.signatures)."""
    return ticket_signer(settings.secret_key).sign(registration.event_id, registration.id)


def qr_svg(settings: Settings, registration: Registration) -> str:
    """The ticket's QR code as inline SVG: crisp at any size, no image request (a viewBox
    instead of a fixed size: the page sets the size)."""
    return ticket_svg(qr.ticket_qr(qr_payload(settings, registration)))


def ticket_svg(symbol: qr.QRSymbol) -> str:
    """How the ticket page draws a code."""
    return qr.svg(
        symbol,
        scale=6,
        border=2,
        dark="#111",
        light="#fff",
        title="Ticket QR code",
        css_class="qr-svg",
    )


def qr_png(settings: Settings, registration: Registration) -> bytes:
    """The same code as PNG, for e-mail (many mail apps do not show SVG)."""
    symbol = qr.ticket_qr(qr_payload(settings, registration))
    return qr.png(symbol, scale=6, border=2, dark=(0x11, 0x11, 0x11))


def short_code(registration: Registration) -> str:
    """A few characters people can read out at the door when a phone won't scan."""
    return registration.id.hex[-8:].upper()


@dataclass(frozen=True)
class MemberTicket:
    registration: Registration
    event: Event

    @property
    def channel_label(self) -> str:
        return CHANNEL_LABELS.get(self.registration.channel, self.registration.channel)

    @property
    def is_past(self) -> bool:
        return event_end(self.event) <= datetime.now(UTC)


async def member_tickets(session: AsyncSession, member_id: UUID) -> list[MemberTicket]:
    """Every registration of the profile, whatever the channel, soonest upcoming first."""
    rows = await session.execute(
        select(Registration, Event)
        .join(Event, Event.id == Registration.event_id)
        .options(lazyload(Event.listings))
        .where(
            Registration.member_id == member_id,
            Event.deleted_at.is_(None),
            Event.status != EventStatus.DRAFT,
        )
        .order_by(Event.starts_at)
    )
    return [MemberTicket(registration, event) for registration, event in rows]


async def member_by_email(session: AsyncSession, email: str) -> Member | None:
    """The profile for a normalised address (`services.people.members.normalise_email`), also found
    through an address a platform gave us for one of its identities."""
    member = await session.scalar(
        select(Member).options(lazyload(Member.identities)).where(Member.email == email)
    )
    if member is not None:
        return member
    member_id = await session.scalar(
        select(MemberIdentity.member_id)
        .where(func.lower(MemberIdentity.email) == email)
        .order_by(MemberIdentity.created_at)
        .limit(1)
    )
    return None if member_id is None else await session.get(Member, member_id)


async def member_exists(session: AsyncSession, member_id: UUID) -> bool:
    return bool(await session.scalar(select(func.count()).where(Member.id == member_id)))


async def active_registration(
    session: AsyncSession, event_id: UUID, email: str
) -> Registration | None:
    """This person's confirmed or waitlisted place at the event, found by a normalised address."""
    member = await member_by_email(session, email)
    if member is None:
        return None
    return await session.scalar(
        select(Registration).where(
            Registration.event_id == event_id,
            Registration.member_id == member.id,
            Registration.status.in_([RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED]),
        )
    )
