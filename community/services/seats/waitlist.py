"""Seating in turn, when seats come free: over-capacity places first (their claim is the
oldest), then the waitlist, first in line first. A paid event's waitlist is offered its
seats as holds to pay for instead (the `paid_waitlist` listeners)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from functools import partial
from typing import TypeVar
from uuid import UUID

from sqlalchemy import Select, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import object_session

from community.models import Channel, Event, OutboxMessage, Registration, RegistrationStatus
from community.services.seats.hooks import InventoryHooks, PromotionHooks
from community.services.seats.inventory import Full, PromoteResult, Seat
from community.services.seats.keeper import SeatKeeper
from community.services.seats.ledger import registration_keys
from community.services.seats.results import Registered, registered

log = logging.getLogger("community.registrations")

T = TypeVar("T")


class Waitlist:
    """Seats people in turn when seats come free, and tells the promotion listeners."""

    def __init__(
        self, keeper: SeatKeeper, promotions: PromotionHooks, paid_waitlist: InventoryHooks
    ) -> None:
        self.keeper = keeper
        self.promotions = promotions
        self.paid_waitlist = paid_waitlist

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
                async with self.keeper.session_maker() as session, session.begin():
                    reg = await session.scalar(query.limit(1).with_for_update(skip_locked=True))
                    if reg is None:
                        break
                    keys = await registration_keys(session, self.keeper.keys, reg)
                    result = await self.keeper.gated(event_id, partial(seat, event_id, keys))
                    if isinstance(result, Full):
                        break
                    if isinstance(result, Seat):
                        done = record(reg, result.seat_no)
                    else:
                        stale = True
            except DBAPIError as exc:
                # Redis seated them but the ledger did not: put Redis back in step.
                log.warning("a seat was not recorded", extra={"error": type(exc).__name__})
                await self.keeper.rebuild(event_id, None)
                break
            if stale:
                if rebuilt:
                    break
                rebuilt = True
                await self.keeper.rebuild(event_id, None)
                continue
            seated.append(done)
        if seated:
            await self.keeper.seats_changed(event_id, Channel.NATIVE)
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
            self.keeper.inventory.seat_over_capacity,
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
            self.keeper.inventory.promote,
            record,
            limit,
        )
        if promoted:
            await self.report_promotions(event_id, [p.registration_id for p in promoted])
        return promoted

    async def _sells_tickets(self, event_id: UUID) -> bool:
        async with self.keeper.session_maker() as session:
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
