"""The Traffic Cop kept in step with the ledger, for every part of the registration service.

Redis answers first and PostgreSQL records (docs/inventory.md). The keeper asks Redis (loading
the event from the ledger when Redis has lost it), rebuilds Redis from the ledger when the
ledger proved it stale, gives back a place the ledger did not take, and tells the listeners
that an event's seats changed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar
from uuid import UUID

from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.redis_client import RedisPoolBusy
from community.services.seats.after_reply import AfterReply
from community.services.seats.hooks import InventoryHooks
from community.services.seats.inventory import (
    Counts,
    Inventory,
    Missing,
    NotLoaded,
    PlaceState,
    Released,
    Snapshot,
)
from community.services.seats.ledger import MemberKeys, ledger_snapshot
from community.services.seats.refusals import (
    EventNotFound,
    RegistrationUnavailable,
    unavailable_on_failure,
)

log = logging.getLogger("community.registrations")

T = TypeVar("T")

# How long a seat to hand back waits out a busy Redis pool (each try waits REDIS_POOL_WAIT).
GIVE_BACK_PATIENCE_S = 5.0


class SeatKeeper:
    """What every part of the service shares: the ledger, the Traffic Cop, the listeners."""

    def __init__(
        self,
        session_maker: async_sessionmaker[AsyncSession],
        inventory: Inventory,
        member_keys: MemberKeys,
        hooks: InventoryHooks,
        after_reply: AfterReply | None,
    ) -> None:
        self.session_maker = session_maker
        self.inventory = inventory
        self.keys = member_keys
        self.hooks = hooks
        # In the web app, seat-change listeners run beside the reply (services.seats.after_reply).
        self.after_reply = after_reply

    async def seats_changed(self, event_id: UUID, channel: str) -> None:
        if self.after_reply is None:
            await self.hooks.fire(event_id, channel)
        else:
            self.after_reply.start(self.hooks.fire(event_id, channel))

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

    async def rebuild(self, event_id: UUID, generation: str | None) -> None:
        await self.inventory.rebuild(
            event_id, partial(self.snapshot, event_id), unless_generation=generation
        )

    # --- asking the Traffic Cop --------------------------------------------------------------

    async def gated(self, event_id: UUID, call: Callable[[], Awaitable[T | NotLoaded]]) -> T:
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
            return await self.gated(event_id, call)

    async def counts(self, event_id: UUID) -> Counts:
        async with unavailable_on_failure():
            return await self.gated(event_id, lambda: self.inventory.counts(event_id))

    # --- places the ledger does not hold -----------------------------------------------------

    async def give_back(
        self, event_id: UUID, keys: tuple[str, ...], seat_no: int, state: PlaceState
    ) -> None:
        """Hand back a place Redis gave that the ledger did not record."""
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

    async def forget_place(self, event_id: UUID, keys: tuple[str, ...], seat_no: int) -> None:
        """Release a place the ledger no longer has; if Redis knew it otherwise, rebuild."""
        result = await self.inventory.release(event_id, keys, seat_no=seat_no)
        if isinstance(result, Released | NotLoaded):
            return
        if not isinstance(result, Missing):
            await self.inventory.release(event_id, keys)
        await self.rebuild(event_id, None)
