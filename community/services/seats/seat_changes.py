"""Changing an event's seats: capacity, native reserve and sold-out mode, in Redis and the
ledger together; and reloading an event after it changed elsewhere."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError

from community.models import Channel, Event, Registration, RegistrationStatus, SoldOutMode
from community.services.seats.inventory import InventorySettings, NotLoaded, SeatMove
from community.services.seats.keeper import SeatKeeper
from community.services.seats.ledger import inventory_settings
from community.services.seats.refusals import (
    EventNotFound,
    RegistrationUnavailable,
    unavailable_on_failure,
)
from community.services.seats.results import SeatChange
from community.services.seats.waitlist import Waitlist


class SeatChanges:
    """Changes an event's seats, then seats in turn whoever the change made room for."""

    def __init__(self, keeper: SeatKeeper, waitlist: Waitlist) -> None:
        self.keeper = keeper
        self.waitlist = waitlist

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
                await self.keeper.load(event_id)
                try:
                    async with self.keeper.session_maker() as session, session.begin():
                        event = await session.scalar(
                            select(Event).where(Event.id == event_id).with_for_update()
                        )
                        if event is None or event.deleted_at is not None:
                            raise EventNotFound()
                        wanted = inventory_settings(
                            event, capacity=capacity, reserve=reserve, mode=mode
                        )
                        result = await self.keeper.inventory.configure(
                            event_id, wanted, renumber=renumber
                        )
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
                    await self.keeper.rebuild(event_id, None)
                    raise
                break
            else:
                raise RegistrationUnavailable("The seats could not be changed just now; try again.")
            seated = await self.waitlist.seat_over_capacity(event_id)
            promoted = await self.waitlist.promote_waitlist(event_id)
            await self.keeper.seats_changed(event_id, Channel.NATIVE)
        return SeatChange(moves, promoted, seated)

    async def refresh(self, event_id: UUID) -> None:
        """Reload an event from the ledger after it changed elsewhere (published, cancelled,
        dates edited, profiles merged), and tell the listeners."""
        async with unavailable_on_failure():
            await self.keeper.rebuild(event_id, None)
        await self.keeper.seats_changed(event_id, Channel.NATIVE)
