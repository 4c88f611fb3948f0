"""Holds: a seat kept for a checkout while the person pays (paid tickets, services.payments).

A hold returns by itself after its time to live unless it is confirmed (the payment went
through: it becomes a registration) or released (the checkout was abandoned).
"""

from __future__ import annotations

from uuid import UUID

from community.models import Channel, RegistrationStatus
from community.services.seats.inventory import Mismatch, Missing, PlaceState, Released, Seat
from community.services.seats.refusals import (
    AlreadyRegistered,
    HoldExpired,
    SoldOutError,
    refuse_if_refused,
    unavailable_on_failure,
)
from community.services.seats.registering import Registering
from community.services.seats.results import HeldSeat, Registered


class Holds:
    """Holds seats for checkouts; a confirmed hold is recorded the way a registration is."""

    def __init__(self, registering: Registering) -> None:
        self.registering = registering
        self.keeper = registering.keeper

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
        who = self.registering.person(name=name, email=email, channel=channel)
        async with unavailable_on_failure():
            result = await self.keeper.gated(
                event_id,
                lambda: self.keeper.inventory.hold(event_id, who.keys, who.channel, ttl_s=ttl_s),
            )
        result = refuse_if_refused(result)
        if not isinstance(result, Seat) or result.expires_at is None:
            raise SoldOutError()
        return HeldSeat(event_id, result.seat_no, result.expires_at)

    async def confirm_hold(
        self, event_id: UUID, *, name: str, email: str, channel: str = Channel.NATIVE
    ) -> Registered:
        """Turn a held seat into a registration (after payment, say)."""
        who = self.registering.person(name=name, email=email, channel=channel)
        async with unavailable_on_failure():
            result: Seat | Missing | Mismatch = await self.keeper.gated(
                event_id, lambda: self.keeper.inventory.confirm_hold(event_id, who.keys)
            )
            if isinstance(result, Missing):
                raise HoldExpired()
            if not isinstance(result, Seat):
                raise AlreadyRegistered(
                    who.channel, None, waitlisted=result.state == PlaceState.WAITLISTED
                )
            written = await self.registering.record(
                event_id,
                who,
                status=RegistrationStatus.CONFIRMED,
                seat_no=result.seat_no,
                generation=result.generation,
            )
        if written is None:
            # The ledger had given that seat away while Redis was stale: take a fresh one.
            return await self.registering.register(
                event_id, name=name, email=email, channel=channel
            )
        await self.keeper.seats_changed(event_id, who.channel)
        return written

    async def release_hold(
        self, event_id: UUID, *, email: str, channel: str = Channel.NATIVE
    ) -> bool:
        """Let a held seat go (checkout abandoned). False if there was no open hold."""
        who = self.registering.person(name="-", email=email, channel=channel)
        async with unavailable_on_failure():
            result = await self.keeper.gated(
                event_id,
                lambda: self.keeper.inventory.release(event_id, who.keys, states=[PlaceState.HELD]),
            )
        return isinstance(result, Released)
