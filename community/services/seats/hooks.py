"""Who hears that an event's seats changed, and who was seated from the waitlist.

`inventory_changed`: listeners are async callables taking (event_id, channel); the mirror
enqueues its pushes from here. The channel lets a listener put pushes that follow a native
registration first (people on our page are waiting for the platforms to close).

`paid_seats_freed` and `registration_cancelled` (paid tickets): see their definitions below.

`waitlist_promoted`: listeners are async callables taking (event_id, registration_id), called
once for each person who moved from the waitlist to a seat, whatever caused it (a cancellation
on any channel, a capacity or reserve change, the reconciler, an organiser's promotion). The
ticket e-mail subscribes here, so every path mails the person once.

Listeners run after the ledger write has committed, in the order they were added; a listener
that fails is logged and skipped, since the change it follows has already happened.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar
from uuid import UUID

log = logging.getLogger("community.inventory")

InventoryListener = Callable[[UUID, str], Awaitable[None]]
PromotionListener = Callable[[UUID, UUID], Awaitable[None]]
L = TypeVar("L", bound=Callable[..., Awaitable[None]])


class _Hooks(Generic[L]):
    """Listeners of one kind; `fire` awaits each in turn and logs (and skips) a failure."""

    kind = ""

    def __init__(self) -> None:
        self._listeners: list[L] = []

    def add(self, listener: L) -> L:
        """Register `listener` (usable as a decorator); adding it twice keeps one."""
        if listener not in self._listeners:
            self._listeners.append(listener)
        return listener

    def remove(self, listener: L) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    async def _fire(self, args: tuple[Any, ...], extra: dict[str, str]) -> None:
        for listener in list(self._listeners):
            try:
                await listener(*args)
            except Exception as exc:
                log.warning(
                    f"{self.kind} listener failed",
                    extra={
                        **extra,
                        "listener": getattr(listener, "__qualname__", repr(listener)),
                        "error": type(exc).__name__,
                    },
                )


class InventoryHooks(_Hooks[InventoryListener]):
    kind = "inventory"

    async def fire(self, event_id: UUID, channel: str) -> None:
        await self._fire((event_id, channel), {"event_id": str(event_id)})


class PromotionHooks(_Hooks[PromotionListener]):
    kind = "promotion"

    async def fire(self, event_id: UUID, registration_id: UUID) -> None:
        await self._fire(
            (event_id, registration_id),
            {"event_id": str(event_id), "registration_id": str(registration_id)},
        )


class RegistrationHooks(_Hooks[PromotionListener]):
    kind = "registration"

    async def fire(self, event_id: UUID, registration_id: UUID) -> None:
        await self._fire(
            (event_id, registration_id),
            {"event_id": str(event_id), "registration_id": str(registration_id)},
        )


class Subscription(Generic[L]):
    """One process-wide listener for one purpose: subscribing again replaces the earlier
    one, so each change is acted on exactly once."""

    def __init__(self) -> None:
        self.current: L | None = None

    def install(self, hooks: _Hooks[L], listener: L) -> L:
        if self.current is not None:
            hooks.remove(self.current)
        hooks.add(listener)
        self.current = listener
        return listener

    def uninstall(self, hooks: _Hooks[L], listener: L) -> None:
        hooks.remove(listener)
        if self.current is listener:
            self.current = None


# The process-wide registries; the mirror and the ticket e-mail add their listeners at
# start-up (the app's lifespan and the worker's startup).
inventory_changed = InventoryHooks()
waitlist_promoted = PromotionHooks()
# A paid event's seats came free while people wait: they are offered to the waitlist in turn,
# as holds to pay for (the payments jobs listen), never given away as free seats.
paid_seats_freed = InventoryHooks()
# A registration was cancelled (any channel, anyone): a paid ticket is refunded by its rule.
registration_cancelled = RegistrationHooks()
