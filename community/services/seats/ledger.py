"""The PostgreSQL side of the seat inventory: the snapshot Redis is rebuilt from, and the keys
by which the Traffic Cop recognises a person.

Member keys are keyed hashes (BLAKE2b with a key derived from SECRET_KEY), so Redis holds no
e-mail address or platform id in clear and a key cannot be guessed from an address alone.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from community.models import (
    Allocation,
    Channel,
    Event,
    EventStatus,
    Listing,
    ListingState,
    Member,
    MemberIdentity,
    Payment,
    PaymentKind,
    PaymentStatus,
    Registration,
    RegistrationStatus,
    SoldOutMode,
)
from community.services.seats.inventory import (
    InventorySettings,
    PlaceState,
    Snapshot,
    SnapshotEntry,
)

# Without an end time, registration stays open this long after the start.
OPEN_AFTER_START = timedelta(days=1)


class MemberKeys:
    """The names one person goes by in the inventory: e-mail, platform identity, profile."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"community/member-keys/v1\0" + secret.encode()).digest()

    def _hash(self, kind: str, value: str) -> str:
        digest = hashlib.blake2b(value.encode(), key=self._key, digest_size=16, person=b"member")
        return f"{kind}:{digest.hexdigest()}"

    def email(self, normalised_email: str) -> str:
        return self._hash("e", normalised_email)

    def identity(self, platform: str, external_id: str) -> str:
        return self._hash("p", f"{Channel(platform).value}\0{external_id}")

    def member(self, member_id: UUID) -> str:
        return f"m:{member_id.hex}"

    def guest(self, platform: str, guest_external_id: str) -> str:
        """The one key of a guest's seat: derived from the guest row's platform id, so the
        live path and a rebuild from the ledger name the same place."""
        return self._hash("g", f"{Channel(platform).value}\0{guest_external_id}")

    def for_person(
        self, email: str | None, platform: str | None = None, external_id: str | None = None
    ) -> tuple[str, ...]:
        """Keys known before the profile is looked up (the fast path answers from these)."""
        keys: list[str] = []
        if platform and platform != Channel.NATIVE and external_id:
            keys.append(self.identity(platform, external_id))
        if email:
            keys.append(self.email(email))
        if not keys:
            raise ValueError("a person needs an e-mail address or a platform identity")
        return tuple(keys)

    def for_registration(
        self,
        member_id: UUID,
        email: str | None,
        identities: Sequence[tuple[str, str]] = (),
    ) -> tuple[str, ...]:
        """Every key of a ledger registration; the profile key first (unique per event)."""
        keys = [self.member(member_id)]
        if email:
            keys.append(self.email(email))
        keys.extend(self.identity(p, ext) for p, ext in identities if p != Channel.NATIVE and ext)
        return tuple(dict.fromkeys(keys))


def closes_at(event: Event) -> datetime:
    return event.ends_at or (event.starts_at + OPEN_AFTER_START)


def accepting(event: Event) -> bool:
    """Whether the event takes registrations at all (its seats may still be gone)."""
    return (
        event.status == EventStatus.PUBLISHED
        and event.deleted_at is None
        and event.cancelled_at is None
    )


def inventory_settings(
    event: Event,
    *,
    capacity: int | None = None,
    reserve: int | None = None,
    mode: SoldOutMode | str | None = None,
) -> InventorySettings:
    return InventorySettings(
        capacity=event.capacity if capacity is None else capacity,
        reserve=event.native_reserve if reserve is None else reserve,
        mode=SoldOutMode(event.soldout_mode if mode is None else mode),
        open=accepting(event),
        closes_at_ms=int(closes_at(event).timestamp() * 1000),
        paid=(event.price_cents or 0) > 0,
    )


def _place_state(status: str, seat_no: int | None) -> PlaceState:
    if status == RegistrationStatus.WAITLISTED:
        return PlaceState.WAITLISTED
    return PlaceState.CONFIRMED if seat_no else PlaceState.OVER_CAPACITY


async def identities_of(
    session: AsyncSession, member_ids: list[UUID]
) -> dict[UUID, list[tuple[str, str]]]:
    found: dict[UUID, list[tuple[str, str]]] = defaultdict(list)
    if not member_ids:
        return found
    rows = await session.execute(
        select(MemberIdentity.member_id, MemberIdentity.platform, MemberIdentity.external_id).where(
            MemberIdentity.member_id.in_(member_ids)
        )
    )
    for member_id, platform, external_id in rows:
        found[member_id].append((platform, external_id))
    return found


async def registration_keys(
    session: AsyncSession, keys: MemberKeys, registration: Registration
) -> tuple[str, ...]:
    if registration.guest_of_id is not None:
        return (keys.guest(registration.channel, registration.external_id or ""),)
    member_id = registration.member_id
    assert member_id is not None  # a guest's place or a member's (a CHECK constraint holds it)
    identities = await identities_of(session, [member_id])
    return keys.for_registration(member_id, registration.email, identities.get(member_id, []))


async def ledger_snapshot(
    session: AsyncSession, event_id: UUID, keys: MemberKeys
) -> Snapshot | None:
    """Everything Redis needs about one event, as PostgreSQL has it; None if no such event."""
    event = await session.scalar(
        select(Event).where(Event.id == event_id).execution_options(populate_existing=True)
    )
    if event is None or event.deleted_at is not None:
        return None
    rows = (
        await session.execute(
            select(
                Registration.id,
                Registration.member_id,
                Registration.channel,
                Registration.status,
                Registration.seat_no,
                func.coalesce(Registration.email, Member.email),
                Registration.created_at,
                Registration.external_id,
            )
            # Outer: a guest's seat has no member of its own, and it holds a seat all the same.
            .outerjoin(Member, Member.id == Registration.member_id)
            .where(
                Registration.event_id == event_id,
                Registration.status.in_(
                    [RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED]
                ),
            )
        )
    ).all()
    identities = await identities_of(session, list({row[1] for row in rows if row[1]}))
    holds = await _open_holds(session, event_id)
    entries = []
    for reg_id, member_id, channel, status, seat_no, email, created_at, external_id in rows:
        entry_keys = (
            (keys.guest(channel, external_id or ""),)
            if member_id is None
            else keys.for_registration(member_id, email, identities.get(member_id, []))
        )
        offered = holds.offers.get(reg_id) if status == RegistrationStatus.WAITLISTED else None
        entries.append(
            SnapshotEntry(
                state=PlaceState.HELD if offered else _place_state(status, seat_no),
                channel=channel,
                seat_no=offered[0] if offered else (seat_no or 0),
                since_ms=int(created_at.timestamp() * 1000),
                keys=entry_keys,
                expires_ms=offered[1] if offered else 0,
            )
        )
    entries.extend(
        SnapshotEntry(PlaceState.HELD, Channel.NATIVE, seat, since, keys.for_person(email), until)
        for email, seat, since, until in holds.purchases
    )
    return Snapshot(inventory_settings(event), entries, await confirmed_promises(session, event))


@dataclass
class _OpenHolds:
    # A waitlisted registration offered a seat: registration id -> (seat, held until ms).
    offers: dict[UUID, tuple[int, int]] = field(default_factory=dict)
    # A checkout's held seat: (e-mail, seat, since ms, held until ms).
    purchases: list[tuple[str, int, int, int]] = field(default_factory=list)


async def _open_holds(session: AsyncSession, event_id: UUID) -> _OpenHolds:
    """Seats held for checkouts still being paid for: a Redis that forgot them (a restart)
    gets them back with the rest, so nobody loses the seat they are paying for."""
    holds = _OpenHolds()
    rows = await session.execute(
        select(
            Payment.kind,
            Payment.registration_id,
            Payment.email,
            Payment.seat_no,
            Payment.created_at,
            Payment.held_until,
        ).where(
            Payment.event_id == event_id,
            Payment.status == PaymentStatus.HOLDING,
            Payment.seat_no.is_not(None),
            Payment.held_until > datetime.now(UTC),
        )
    )
    for kind, registration_id, email, seat_no, created_at, held_until in rows:
        if seat_no is None:  # excluded by the query; narrows the type
            continue
        until = int(held_until.timestamp() * 1000)
        if kind == PaymentKind.OFFER and registration_id is not None:
            holds.offers[registration_id] = (seat_no, until)
        elif kind == PaymentKind.PURCHASE:
            holds.purchases.append((email, seat_no, int(created_at.timestamp() * 1000), until))
    return holds


async def confirmed_promises(session: AsyncSession, event: Event) -> dict[str, int]:
    """Seats each open listing may still sell by the limit its platform last confirmed.

    Strict allocation only (shared mode promises nothing): Redis keeps the live promises; these
    are what a Redis that lost them starts from.
    """
    if event.allocation != Allocation.STRICT:
        return {}
    rows = await session.execute(
        select(Listing.platform, Listing.last_pushed_limit, Listing.platform_count).where(
            Listing.event_id == event.id,
            Listing.remote_state == ListingState.OPEN,
            Listing.last_pushed_limit.is_not(None),
        )
    )
    promised: dict[str, int] = {}
    for platform, limit, going in rows:
        assert limit is not None  # the query asked for pushed limits only
        promised[platform] = promised.get(platform, 0) + max(0, limit - going)
    return promised
