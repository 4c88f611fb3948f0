"""Registrations: the Traffic Cop decides, PostgreSQL records, the mirror hears about it.

Order of writes (docs/inventory.md): reserve in Redis, insert in PostgreSQL, then tell the listeners
(the mirror enqueues its pushes). If the insert fails the seat goes back at once. PostgreSQL
is the last line of defence: a seat number belongs to one active registration, seats never
exceed the capacity and platforms never exceed C - R, whatever Redis says. When the ledger
refuses a seat, Redis was stale: it is rebuilt from the ledger and the request tries again.

"Sold out" and "already registered" are answered from Redis alone, before any SQL.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal, TypeVar
from uuid import UUID

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import Select, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import object_session

from community.config import Settings
from community.models import (
    PLATFORM_LABELS,
    Channel,
    Event,
    EventStatus,
    MemberIdentity,
    OutboxMessage,
    Registration,
    RegistrationStatus,
    SoldOutMode,
)
from community.redis_client import RedisPoolBusy
from community.services.access.limiter import Counter
from community.services.events.manage import event_end
from community.services.mail.outbox import ensure_ticket_row
from community.services.people.members import (
    clean_name,
    find_member,
    normalise_email,
)
from community.services.seats.after_reply import AfterReply
from community.services.seats.hooks import (
    InventoryHooks,
    PromotionHooks,
    RegistrationHooks,
    inventory_changed,
    paid_seats_freed,
    registration_cancelled,
    waitlist_promoted,
)
from community.services.seats.inventory import (
    Counts,
    Full,
    Inventory,
    InventorySettings,
    JoinedWaitlist,
    Mismatch,
    Missing,
    NotLoaded,
    OverCapacity,
    PlaceState,
    PromoteResult,
    Raced,
    Released,
    Reserved,
    Seat,
    SeatMove,
    Snapshot,
)
from community.services.seats.ledger import (
    MemberKeys,
    inventory_settings,
    ledger_snapshot,
    registration_keys,
)
from community.services.seats.ledger_writes import (
    ACTIVE_MEMBER,
    EXTERNAL_REGISTRATION,
    GUEST_MARK,
    MAX_EXTERNAL_ID,
    SEAT_GUARDS,
    add_registration,
    constraint_of,
    place_state,
)
from community.services.seats.one_statement_write import write_native_seat
from community.services.seats.refusals import (
    AlreadyCancelled,
    AlreadyRegistered,
    EventNotFound,
    HoldExpired,
    InvalidRegistration,
    NotCancellable,
    RegistrationClosed,
    RegistrationUnavailable,
    SoldOutError,
    TicketNotFound,
    refuse_if_refused,
    unavailable_on_failure,
)
from community.services.seats.results import (
    Cancelled,
    HeldSeat,
    Registered,
    Registrant,
    SeatChange,
    registered,
)

log = logging.getLogger("community.registrations")
# How long a seat to hand back waits out a busy Redis pool (each try waits REDIS_POOL_WAIT).
GIVE_BACK_PATIENCE_S = 5.0

T = TypeVar("T")

TICKET_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


@dataclass(frozen=True)
class _Host:
    member_id: UUID | None
    name: str
    email: str | None


# --- the service -------------------------------------------------------------------------------


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


class RegistrationService:
    def __init__(
        self,
        session_maker: async_sessionmaker[AsyncSession],
        inventory: Inventory,
        member_keys: MemberKeys,
        hooks: InventoryHooks = inventory_changed,
        *,
        promotions: PromotionHooks = waitlist_promoted,
        paid_waitlist: InventoryHooks = paid_seats_freed,
        cancellations: RegistrationHooks = registration_cancelled,
        max_attempts: int = 8,
        after_reply: AfterReply | None = None,
        turns: asyncio.Semaphore | None = None,
    ) -> None:
        self.session_maker = session_maker
        self.inventory = inventory
        self.keys = member_keys
        self.hooks = hooks
        self.promotions = promotions
        self.paid_waitlist = paid_waitlist
        self.cancellations = cancellations
        self.max_attempts = max_attempts
        # In the web app, seat-change listeners run beside the reply (services.seats.after_reply).
        self.after_reply = after_reply
        # How many registrations ask the Traffic Cop at once (the web app's API: in a rush,
        # those waiting are parked, so the few with a seat write it without waiting behind
        # hundreds of half-answered refusals on the event loop). The write is not gated.
        self.turns: AbstractAsyncContextManager[Any] = turns or nullcontext()

    async def _seats_changed(self, event_id: UUID, channel: str) -> None:
        if self.after_reply is None:
            await self.hooks.fire(event_id, channel)
        else:
            self.after_reply.start(self.hooks.fire(event_id, channel))

    @classmethod
    def build(
        cls,
        settings: Settings,
        redis: Redis,
        session_maker: async_sessionmaker[AsyncSession],
        **kwargs: Any,
    ) -> RegistrationService:
        return cls(
            session_maker,
            Inventory(redis, settings.redis_prefix),
            MemberKeys(settings.secret_key),
            **kwargs,
        )

    # --- the ledger's view -------------------------------------------------------------------

    async def snapshot(self, event_id: UUID) -> Snapshot | None:
        async with self.session_maker() as session:
            # One consistent read of the event, its registrations and their identities.
            await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            return await ledger_snapshot(session, event_id, self.keys)

    async def load(self, event_id: UUID) -> None:
        """Make sure Redis knows the event (first use after a restart or eviction)."""
        try:
            await self.inventory.ensure_loaded(event_id, partial(self.snapshot, event_id))
        except LookupError:
            raise EventNotFound() from None

    async def _rebuild(self, event_id: UUID, generation: str | None) -> None:
        await self.inventory.rebuild(
            event_id, partial(self.snapshot, event_id), unless_generation=generation
        )

    async def _gated(self, event_id: UUID, call: Callable[[], Awaitable[T | NotLoaded]]) -> T:
        for _ in range(3):
            result = await call()
            if not isinstance(result, NotLoaded):
                return result
            await self.load(event_id)
        raise RegistrationUnavailable()

    async def ask(self, event_id: UUID, call: Callable[[], Awaitable[T | NotLoaded]]) -> T:
        """One Traffic Cop call (`call` uses self.inventory), the event loaded first if Redis
        has lost it; Redis or the ledger out of reach is a RegistrationUnavailable."""
        async with unavailable_on_failure():
            return await self._gated(event_id, call)

    def person(
        self,
        *,
        name: str,
        email: str | None,
        channel: str = Channel.NATIVE,
        platform_member_id: str | None = None,
    ) -> Registrant:
        """Validate who is registering; raises InvalidRegistration naming the field."""
        try:
            channel = Channel(channel).value
        except ValueError:
            raise InvalidRegistration("channel", "Unknown registration channel.") from None
        try:
            clean = clean_name(name)
        except ValueError as exc:
            raise InvalidRegistration("name", str(exc)) from None
        normalised = None
        if email or channel == Channel.NATIVE:
            try:
                normalised = normalise_email(email or "")
            except ValueError as exc:
                raise InvalidRegistration("email", str(exc)) from None
        member_id = (platform_member_id or "").strip() or None
        if channel != Channel.NATIVE and member_id is None and normalised is None:
            raise InvalidRegistration(
                "platform_member_id", "A platform registration needs the platform's member id."
            )
        if member_id and len(member_id) > MAX_EXTERNAL_ID:
            raise InvalidRegistration("platform_member_id", "That member id is too long.")
        keys = self.keys.for_person(normalised, channel, member_id)
        return Registrant(clean, normalised, channel, member_id, keys)

    # --- registering -------------------------------------------------------------------------

    async def register(
        self,
        event_id: UUID,
        *,
        name: str,
        email: str | None,
        channel: str = Channel.NATIVE,
        platform_member_id: str | None = None,
        external_id: str | None = None,
        listing_id: UUID | None = None,
        ticket_mail: bool = False,
        limits: Sequence[Counter] = (),
    ) -> Registered:
        """Take a seat (or a waitlist place) for this person, or say why not.

        With `ticket_mail`, the ticket e-mail's outbox row is written in the same transaction,
        so a registration that stands is always mailed (once), whatever happens to the job.
        `limits`: the visitor's counters (visitor_limits.registration_counters), counted in
        the call that takes the seat.

        Raises AlreadyRegistered, SoldOutError, RegistrationClosed, EventNotFound, RateLimited,
        InvalidRegistration or RegistrationUnavailable.
        """
        who = self.person(
            name=name, email=email, channel=channel, platform_member_id=platform_member_id
        )
        async with unavailable_on_failure():
            limits = refuse_if_refused(await self.inventory.counted_apart(limits))
            for attempt in range(self.max_attempts):
                # The attempt counts once, not again when a stale Redis makes us ask twice.
                counted = () if attempt else limits
                async with self.turns:
                    result: Reserved = await self._gated(
                        event_id,
                        partial(
                            self.inventory.reserve, event_id, who.keys, who.channel, limits=counted
                        ),
                    )
                taken = refuse_if_refused(result)
                # What is left once the refusals are raised (mypy cannot subtract from a union).
                assert isinstance(taken, Seat | JoinedWaitlist)
                waitlisted = isinstance(taken, JoinedWaitlist)
                written = await self._record(
                    event_id,
                    who,
                    status=RegistrationStatus.WAITLISTED
                    if waitlisted
                    else RegistrationStatus.CONFIRMED,
                    seat_no=0 if isinstance(taken, JoinedWaitlist) else taken.seat_no,
                    generation=taken.generation,
                    external_id=external_id,
                    listing_id=listing_id,
                    ticket_mail=ticket_mail,
                )
                if written is not None:
                    await self._seats_changed(event_id, who.channel)
                    return written
        raise RegistrationUnavailable("Too many people are registering at once; please try again.")

    async def record_waiting(
        self, event_id: UUID, who: Registrant, generation: str
    ) -> Registered | None:
        """Write down a waitlist place the Traffic Cop just gave (a paid event's checkout
        found it full), with its "waitlisted" e-mail row; None when the ledger proved Redis
        stale (it was rebuilt: ask the Traffic Cop again)."""
        async with unavailable_on_failure():
            written = await self._record(
                event_id,
                who,
                status=RegistrationStatus.WAITLISTED,
                seat_no=0,
                generation=generation,
                ticket_mail=True,
            )
        if written is not None:
            await self._seats_changed(event_id, who.channel)
        return written

    async def record_platform_registration(
        self,
        event_id: UUID,
        *,
        platform: str,
        name: str,
        email: str | None,
        platform_member_id: str,
        external_id: str | None = None,
        listing_id: UUID | None = None,
    ) -> Registered:
        """A registration a platform already accepted: always recorded, never refused for seats.

        It takes a shared seat when one is left, else any free (reserved) seat, flagged
        `past_mirror`; with no seat at all it is recorded over capacity for the organiser.
        """
        if platform == Channel.NATIVE:
            raise InvalidRegistration("channel", "Only a platform registration can be recorded.")
        who = self.person(
            name=name, email=email, channel=platform, platform_member_id=platform_member_id
        )
        async with unavailable_on_failure():
            for _ in range(self.max_attempts):
                result: Raced = await self._gated(
                    event_id,
                    lambda: self.inventory.admit_past_mirror(event_id, who.keys, who.channel),
                )
                taken_past = refuse_if_refused(result)
                # What is left once the refusals are raised (mypy cannot subtract from a union).
                assert isinstance(taken_past, Seat | OverCapacity)
                over = isinstance(taken_past, OverCapacity)
                written = await self._record(
                    event_id,
                    who,
                    status=RegistrationStatus.CONFIRMED,
                    seat_no=0 if isinstance(taken_past, OverCapacity) else taken_past.seat_no,
                    generation=taken_past.generation,
                    over_capacity=over,
                    past_mirror=over or bool(getattr(taken_past, "raced", False)),
                    external_id=external_id,
                    listing_id=listing_id,
                )
                if written is not None:
                    await self._seats_changed(event_id, who.channel)
                    return written
        raise RegistrationUnavailable()

    async def _record(
        self,
        event_id: UUID,
        who: Registrant,
        *,
        status: RegistrationStatus,
        seat_no: int,
        generation: str,
        over_capacity: bool = False,
        past_mirror: bool = False,
        external_id: str | None = None,
        listing_id: UUID | None = None,
        ticket_mail: bool = False,
    ) -> Registered | None:
        """Write the place Redis gave; None when the ledger proved Redis stale (rebuilt)."""
        state = place_state(status, over_capacity)
        try:
            return await self._insert(
                event_id,
                who,
                status=status,
                seat_no=seat_no,
                over_capacity=over_capacity,
                past_mirror=past_mirror,
                external_id=external_id,
                listing_id=listing_id,
                ticket_mail=ticket_mail,
            )
        except IntegrityError as exc:
            await self._give_back(event_id, who.keys, seat_no, state)
            constraint = constraint_of(exc)
            if constraint in SEAT_GUARDS:
                await self._rebuild(event_id, generation)
                return None
            if constraint == ACTIVE_MEMBER:
                # The ledger knows this person under another key; Redis learns it now.
                await self._rebuild(event_id, generation)
                raise await self._already_in_ledger(event_id, who) from None
            if constraint == EXTERNAL_REGISTRATION:
                raise AlreadyRegistered(who.channel, None) from None
            raise RegistrationUnavailable() from exc
        except BaseException:
            # Shielded: a request cancelled mid-write must still hand its seat back.
            await asyncio.shield(self._give_back(event_id, who.keys, seat_no, state))
            raise

    async def _insert(
        self,
        event_id: UUID,
        who: Registrant,
        *,
        status: RegistrationStatus,
        seat_no: int,
        over_capacity: bool,
        past_mirror: bool,
        external_id: str | None,
        listing_id: UUID | None,
        ticket_mail: bool = False,
    ) -> Registered:
        if (
            status == RegistrationStatus.CONFIRMED
            and who.channel == Channel.NATIVE
            and who.email
            and seat_no
            and not (over_capacity or past_mirror or external_id or listing_id)
        ):
            written = await write_native_seat(
                self.session_maker.kw["bind"],
                event_id=event_id,
                seat_no=seat_no,
                name=who.name,
                email=who.email,
                ticket_mail=ticket_mail,
            )
            if written is not None:
                registration_id, token = written
                return Registered(
                    registration_id,
                    event_id,
                    RegistrationStatus.CONFIRMED,
                    who.channel,
                    token,
                    seat_no,
                )
        async with self.session_maker() as session, session.begin():
            return await add_registration(
                session,
                event_id,
                who,
                status=status,
                seat_no=seat_no,
                over_capacity=over_capacity,
                past_mirror=past_mirror,
                external_id=external_id,
                listing_id=listing_id,
                ticket_mail=ticket_mail,
            )

    async def _give_back(
        self, event_id: UUID, keys: tuple[str, ...], seat_no: int, state: PlaceState
    ) -> None:
        # A pool busy for a moment is waited out: a seat not given back reads as sold until
        # the reconciler finds it, minutes later.
        patience = time.monotonic() + GIVE_BACK_PATIENCE_S
        while True:
            try:
                await self.inventory.release(event_id, keys, seat_no=seat_no, states=[state])
                return
            except RedisPoolBusy:
                if time.monotonic() < patience:
                    continue
                log.warning("could not give a seat back", extra={"error": "RedisPoolBusy"})
                return
            except (RedisError, OSError) as exc:
                # The reconciler will find the orphaned place; never mask the original failure.
                log.warning("could not give a seat back", extra={"error": type(exc).__name__})
                return

    async def _already_in_ledger(self, event_id: UUID, who: Registrant) -> AlreadyRegistered:
        async with self.session_maker() as session:
            member = await find_member(
                session, email=who.email, platform=who.channel, external_id=who.platform_member_id
            )
            reg = None
            if member is not None:
                reg = await session.scalar(
                    select(Registration).where(
                        Registration.event_id == event_id,
                        Registration.member_id == member.id,
                        Registration.status.in_(
                            [RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED]
                        ),
                    )
                )
        if reg is None:
            return AlreadyRegistered(who.channel, None)
        return AlreadyRegistered(
            reg.channel, reg.created_at, waitlisted=reg.status == RegistrationStatus.WAITLISTED
        )

    # --- holds -------------------------------------------------------------------------------

    async def hold(
        self,
        event_id: UUID,
        *,
        name: str,
        email: str,
        channel: str = Channel.NATIVE,
        ttl_s: float = 600,
    ) -> HeldSeat:
        """Hold a seat for a checkout; it returns by itself after `ttl_s` unless confirmed."""
        who = self.person(name=name, email=email, channel=channel)
        async with unavailable_on_failure():
            result = await self._gated(
                event_id, lambda: self.inventory.hold(event_id, who.keys, who.channel, ttl_s=ttl_s)
            )
        result = refuse_if_refused(result)
        if not isinstance(result, Seat) or result.expires_at is None:
            raise SoldOutError()
        return HeldSeat(event_id, result.seat_no, result.expires_at)

    async def confirm_hold(
        self, event_id: UUID, *, name: str, email: str, channel: str = Channel.NATIVE
    ) -> Registered:
        """Turn a held seat into a registration (after payment, say)."""
        who = self.person(name=name, email=email, channel=channel)
        async with unavailable_on_failure():
            result: Seat | Missing | Mismatch = await self._gated(
                event_id, lambda: self.inventory.confirm_hold(event_id, who.keys)
            )
            if isinstance(result, Missing):
                raise HoldExpired()
            if not isinstance(result, Seat):
                raise AlreadyRegistered(
                    who.channel, None, waitlisted=result.state == PlaceState.WAITLISTED
                )
            written = await self._record(
                event_id,
                who,
                status=RegistrationStatus.CONFIRMED,
                seat_no=result.seat_no,
                generation=result.generation,
            )
        if written is None:
            # The ledger had given that seat away while Redis was stale: take a fresh one.
            return await self.register(event_id, name=name, email=email, channel=channel)
        await self._seats_changed(event_id, who.channel)
        return written

    async def release_hold(
        self, event_id: UUID, *, email: str, channel: str = Channel.NATIVE
    ) -> bool:
        """Let a held seat go (checkout abandoned). False if there was no open hold."""
        who = self.person(name="-", email=email, channel=channel)
        async with unavailable_on_failure():
            result = await self._gated(
                event_id,
                lambda: self.inventory.release(event_id, who.keys, states=[PlaceState.HELD]),
            )
        return isinstance(result, Released)

    # --- cancelling and the waitlist ---------------------------------------------------------

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
            async with self.session_maker() as session, session.begin():
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
                keys = await registration_keys(session, self.keys, reg)
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
                guests = await self.end_guest_seats(session, own)
                moving = [(g.id, g.channel, g.external_id or "", g.listing_id) for g in elsewhere]
                if ticket_mail and reg.email:
                    await ensure_ticket_row(session, reg.id, "cancelled", reg.email)
            await self._forget_place(event_id, keys, seat_no)
            for guest_keys, guest_seat in guests:
                await self._forget_place(event_id, guest_keys, guest_seat)
            if moving:
                await self._rehome_guests(event_id, host, moving)
            promoted = await self.promote_waitlist(event_id)
            await self._seats_changed(event_id, channel)
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
            async with self.session_maker() as session, session.begin():
                await session.execute(
                    update(Registration)
                    .where(Registration.id.in_([guest_id for guest_id, _ in rows]))
                    .values(guest_of_id=new_host)
                )
        if stranded:
            async with self.session_maker() as session, session.begin():
                places = await self.end_guest_seats(
                    session,
                    await session.scalars(
                        select(Registration).where(Registration.id.in_(stranded)).with_for_update()
                    ),
                )
            for guest_keys, guest_seat in places:
                await self._forget_place(event_id, guest_keys, guest_seat)

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
        async with self.session_maker() as session:
            platform_member_id = await session.scalar(
                select(MemberIdentity.external_id).where(
                    MemberIdentity.member_id == host.member_id,
                    MemberIdentity.platform == platform,
                )
            )
        try:
            placed = await self.record_platform_registration(
                event_id,
                platform=platform,
                name=host.name or "Guest",
                email=host.email,
                platform_member_id=platform_member_id or "",
                external_id=source,
                listing_id=listing_id,
            )
        except AlreadyRegistered:
            async with self.session_maker() as session:
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

    async def end_guest_seats(
        self, session: AsyncSession, guests: Iterable[Registration]
    ) -> list[tuple[tuple[str, ...], int]]:
        """Cancel guest seats in the caller's transaction; returns the places to give back
        once it commits. The guest's platform id is retired, so the same guest number can
        be taken again later (a Meetup guest count that goes down and up)."""
        now = datetime.now(UTC)
        places = []
        for guest in guests:
            keys = await registration_keys(session, self.keys, guest)
            places.append((keys, 0 if guest.over_capacity else (guest.seat_no or 0)))
            suffix = f"~{guest.id.hex[:12]}"
            guest.external_id = (guest.external_id or "")[: MAX_EXTERNAL_ID - len(suffix)] + suffix
            guest.status = RegistrationStatus.CANCELLED
            guest.cancelled_at = now
        return places

    async def _forget_place(self, event_id: UUID, keys: tuple[str, ...], seat_no: int) -> None:
        """Release a place the ledger no longer has; if Redis knew it otherwise, rebuild."""
        result = await self.inventory.release(event_id, keys, seat_no=seat_no)
        if isinstance(result, Released | NotLoaded):
            return
        if not isinstance(result, Missing):
            await self.inventory.release(event_id, keys)
        await self._rebuild(event_id, None)

    async def _seat_in_turn(
        self,
        event_id: UUID,
        query: Select[Registration],
        seat: Callable[[UUID, tuple[str, ...]], Awaitable[PromoteResult]],
        record: Callable[[Registration, int], T],
        limit: int,
    ) -> list[T]:
        """Seat the places `query` finds, first in its order, while the Traffic Cop has a seat
        for them: each is locked, seated in Redis and written in one transaction."""
        seated: list[T] = []
        rebuilt = False
        while len(seated) < limit:
            stale = False
            try:
                async with self.session_maker() as session, session.begin():
                    reg = await session.scalar(query.limit(1).with_for_update(skip_locked=True))
                    if reg is None:
                        break
                    keys = await registration_keys(session, self.keys, reg)
                    result = await self._gated(event_id, partial(seat, event_id, keys))
                    if isinstance(result, Full):
                        break
                    if isinstance(result, Seat):
                        done = record(reg, result.seat_no)
                    else:
                        stale = True
            except DBAPIError as exc:
                # Redis seated them but the ledger did not: put Redis back in step.
                log.warning("a seat was not recorded", extra={"error": type(exc).__name__})
                await self._rebuild(event_id, None)
                break
            if stale:
                if rebuilt:
                    break
                rebuilt = True
                await self._rebuild(event_id, None)
                continue
            seated.append(done)
        if seated:
            await self._seats_changed(event_id, Channel.NATIVE)
        return seated

    async def seat_over_capacity(
        self, event_id: UUID, *, registration_id: UUID | None = None, limit: int = 1000
    ) -> list[UUID]:
        """Give seats that came free to over-capacity places, first arrived first.

        Their claim is older than any newcomer's and than the waitlist's: the Traffic Cop counts
        them as taken, so a freed seat stays unoffered until this seats them. With
        `registration_id`, only that one (the organiser's pick). Returns who got a seat.
        """
        query = select(Registration).where(
            Registration.event_id == event_id,
            Registration.status == RegistrationStatus.CONFIRMED,
            Registration.over_capacity.is_(True),
            Registration.seat_no.is_(None),
        )
        if registration_id is not None:
            query, limit = query.where(Registration.id == registration_id), 1

        def record(reg: Registration, seat_no: int) -> UUID:
            reg.seat_no, reg.over_capacity, reg.confirmed_at = seat_no, False, datetime.now(UTC)
            return reg.id

        return await self._seat_in_turn(
            event_id,
            query.order_by(Registration.created_at, Registration.id),
            self.inventory.seat_over_capacity,
            record,
            limit,
        )

    async def promote_waitlist(self, event_id: UUID, *, limit: int = 1000) -> list[Registered]:
        """Seat people from the waitlist, first in line first, while seats are free.

        Over-capacity places are seated first: their claim came before the waitlist's. A paid
        event's waitlist is not seated here: its people are offered the seats as holds to pay
        for, in turn (the `paid_waitlist` listeners), so nobody gets a paid seat for free.
        """
        await self.seat_over_capacity(event_id)
        if await self._sells_tickets(event_id):
            await self.paid_waitlist.fire(event_id, Channel.NATIVE)
            return []

        def record(reg: Registration, seat_no: int) -> Registered:
            reg.status, reg.seat_no = RegistrationStatus.CONFIRMED, seat_no
            reg.confirmed_at = datetime.now(UTC)
            session = object_session(reg)
            if reg.email and session is not None:
                # Mailed once, whatever seated them (see report_promotions), in this
                # transaction.
                session.add(
                    OutboxMessage(
                        registration_id=reg.id, kind="promoted", to_addr=reg.email,
                        subject="", status="queued",
                    )
                )  # fmt: skip
            return registered(reg)

        promoted = await self._seat_in_turn(
            event_id,
            select(Registration)
            .where(
                Registration.event_id == event_id,
                Registration.status == RegistrationStatus.WAITLISTED,
            )
            .order_by(Registration.waitlisted_at, Registration.id),
            self.inventory.promote,
            record,
            limit,
        )
        if promoted:
            await self.report_promotions(event_id, [p.registration_id for p in promoted])
        return promoted

    async def _sells_tickets(self, event_id: UUID) -> bool:
        async with self.session_maker() as session:
            price = await session.scalar(select(Event.price_cents).where(Event.id == event_id))
        return bool(price and price > 0)

    async def report_promotions(self, event_id: UUID, registration_ids: Iterable[UUID]) -> None:
        """Tell the promotion listeners who now holds a seat instead of a waitlist place.

        Called once per promotion, after its ledger write committed: by promote_waitlist (every
        cancellation, seat change and reconciliation seats people through it) and by anything
        that seats one waitlisted person by hand (the organiser's "promote").
        """
        for registration_id in registration_ids:
            await self.promotions.fire(event_id, registration_id)

    # --- counts and settings -----------------------------------------------------------------

    async def counts(self, event_id: UUID) -> Counts:
        async with unavailable_on_failure():
            return await self._gated(event_id, lambda: self.inventory.counts(event_id))

    async def change_seats(
        self,
        event_id: UUID,
        *,
        capacity: int,
        reserve: int,
        mode: SoldOutMode | str,
        renumber: bool = False,
    ) -> SeatChange:
        """Change capacity, native reserve and sold-out mode, in Redis and the ledger together.

        Raises InventoryError when the change is impossible (see Inventory.configure); with
        `renumber`, seats above a lowered capacity move to free seats below it.
        """
        InventorySettings(capacity, reserve, SoldOutMode(mode)).validate()
        moves: list[SeatMove] = []
        async with unavailable_on_failure():
            for _ in range(3):
                await self.load(event_id)
                try:
                    async with self.session_maker() as session, session.begin():
                        event = await session.scalar(
                            select(Event).where(Event.id == event_id).with_for_update()
                        )
                        if event is None or event.deleted_at is not None:
                            raise EventNotFound()
                        wanted = inventory_settings(
                            event, capacity=capacity, reserve=reserve, mode=mode
                        )
                        result = await self.inventory.configure(event_id, wanted, renumber=renumber)
                        if isinstance(result, NotLoaded):
                            continue
                        moves = result
                        for move in moves:
                            await session.execute(
                                update(Registration)
                                .where(
                                    Registration.event_id == event_id,
                                    Registration.status == RegistrationStatus.CONFIRMED,
                                    Registration.seat_no == move.old_seat,
                                )
                                .values(seat_no=move.new_seat)
                            )
                        event.capacity = capacity
                        event.native_reserve = reserve
                        event.soldout_mode = SoldOutMode(mode).value
                except DBAPIError:
                    # Redis took the new settings but the ledger kept the old: follow the ledger.
                    await self._rebuild(event_id, None)
                    raise
                break
            else:
                raise RegistrationUnavailable("The seats could not be changed just now; try again.")
            seated = await self.seat_over_capacity(event_id)
            promoted = await self.promote_waitlist(event_id)
            await self._seats_changed(event_id, Channel.NATIVE)
        return SeatChange(moves, promoted, seated)

    async def refresh(self, event_id: UUID) -> None:
        """Reload an event from the ledger after it changed elsewhere (published, cancelled,
        dates edited, profiles merged), and tell the listeners."""
        async with unavailable_on_failure():
            await self._rebuild(event_id, None)
        await self._seats_changed(event_id, Channel.NATIVE)
