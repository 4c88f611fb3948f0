"""The registration service: every way a seat is taken, held, given back, seated in turn or
changed, behind the one object controllers, jobs and other services hold.

Each verb is a method of the collaborator that owns its use case, bound here once (so a call
costs what it cost when they were one class; `register` is the flash sale's hot path):

- `registering`: register, record_platform_registration, record_waiting, person
- `holds`: hold, confirm_hold, release_hold (a paid ticket's checkout)
- `cancelling`: cancel (the person's guests go with them, the seat to whoever waits)
- `waitlist`: promote_waitlist, seat_over_capacity, report_promotions
- `seat_changes`: change_seats, refresh
- `keeper`: snapshot, load, ask, counts (the Traffic Cop kept in step with the ledger)

What they refuse with is in `refusals` (and its one table of statuses), what they answer in
`results`, the rows they write in `ledger_writes`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings
from community.services.seats.after_reply import AfterReply
from community.services.seats.cancelling import Cancelling
from community.services.seats.holds import Holds
from community.services.seats.hooks import (
    InventoryHooks,
    PromotionHooks,
    RegistrationHooks,
    inventory_changed,
    paid_seats_freed,
    registration_cancelled,
    waitlist_promoted,
)
from community.services.seats.inventory import Inventory
from community.services.seats.keeper import SeatKeeper
from community.services.seats.ledger import MemberKeys
from community.services.seats.registering import Registering
from community.services.seats.seat_changes import SeatChanges
from community.services.seats.waitlist import Waitlist


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
        keeper = SeatKeeper(session_maker, inventory, member_keys, hooks, after_reply)
        registering = Registering(keeper, max_attempts, turns)
        holds = Holds(registering)
        waitlist = Waitlist(keeper, promotions, paid_waitlist)
        cancelling = Cancelling(registering, waitlist, cancellations)
        seat_changes = SeatChanges(keeper, waitlist)

        # What callers read besides the verbs: the ledger, the Traffic Cop, the listeners, and
        # how web replies run theirs.
        self.keeper = keeper
        self.session_maker = session_maker
        self.inventory = inventory
        self.keys = member_keys
        self.hooks = hooks
        self.promotions = promotions
        self.paid_waitlist = paid_waitlist
        self.cancellations = cancellations
        self.after_reply = after_reply
        self.max_attempts = max_attempts

        self.person = registering.person
        self.register = registering.register
        self.record_platform_registration = registering.record_platform_registration
        self.record_waiting = registering.record_waiting

        self.hold = holds.hold
        self.confirm_hold = holds.confirm_hold
        self.release_hold = holds.release_hold

        self.cancel = cancelling.cancel

        self.promote_waitlist = waitlist.promote_waitlist
        self.seat_over_capacity = waitlist.seat_over_capacity
        self.report_promotions = waitlist.report_promotions

        self.change_seats = seat_changes.change_seats
        self.refresh = seat_changes.refresh

        self.snapshot = keeper.snapshot
        self.load = keeper.load
        self.ask = keeper.ask
        self.counts = keeper.counts

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
