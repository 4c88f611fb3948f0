"""Taking a place: on our page (`register`), a platform's registration recorded
(`record_platform_registration`), a paid event's waitlist place (`record_waiting`).

Order of writes (docs/inventory.md): reserve in Redis, insert in PostgreSQL, then tell the
listeners (the mirror enqueues its pushes). If the insert fails the seat goes back at once.
When the ledger refuses a seat, Redis was stale: it is rebuilt from the ledger and the request
tries again. "Sold out" and "already registered" are answered from Redis alone, before any SQL.

`register` is the flash sale's hot path, measured in CPU per request: keep it free of extra
awaits and of objects made per call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from functools import partial
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from community.models import Channel, Registration, RegistrationStatus
from community.services.access.limiter import Counter
from community.services.people.members import clean_name, find_member, normalise_email
from community.services.seats.inventory import JoinedWaitlist, OverCapacity, Raced, Reserved, Seat
from community.services.seats.keeper import SeatKeeper
from community.services.seats.ledger_writes import (
    ACTIVE_MEMBER,
    EXTERNAL_REGISTRATION,
    MAX_EXTERNAL_ID,
    SEAT_GUARDS,
    add_registration,
    constraint_of,
    place_state,
)
from community.services.seats.one_statement_write import write_native_seat
from community.services.seats.refusals import (
    AlreadyRegistered,
    InvalidRegistration,
    RegistrationUnavailable,
    refuse_if_refused,
    unavailable_on_failure,
)
from community.services.seats.results import Registered, Registrant


class Registering:
    """Takes places for the registration service; needs the keeper and how often to retry."""

    def __init__(
        self,
        keeper: SeatKeeper,
        max_attempts: int,
        turns: AbstractAsyncContextManager[Any] | None = None,
    ) -> None:
        self.keeper = keeper
        self.max_attempts = max_attempts
        # How many registrations ask the Traffic Cop at once (the web app's API: in a rush,
        # those waiting are parked, so the few with a seat write it without waiting behind
        # hundreds of half-answered refusals on the event loop). The write is not gated.
        self.turns: AbstractAsyncContextManager[Any] = turns or nullcontext()
        # What every registration reads, held here one attribute away (the hot path).
        self.session_maker = keeper.session_maker
        self.inventory = keeper.inventory
        self.keys = keeper.keys
        self._gated = keeper.gated
        self._rebuild = keeper.rebuild
        self._give_back = keeper.give_back
        self._seats_changed = keeper.seats_changed

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
                written = await self.record(
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
            written = await self.record(
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
                written = await self.record(
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

    async def record(
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
