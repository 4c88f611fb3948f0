"""Who hears that an event's seats changed, and who was seated from the waitlist.

`inventory_changed`: listeners are async callables taking (event_id, channel); the mirror
enqueues its pushes from here. The channel lets a listener put pushes that follow a native
registration first (people on our page are waiting for the platforms to close).

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
from uuid import UUID

log = logging.getLogger("community.inventory")

InventoryListener = Callable[[UUID, str], Awaitable[None]]
PromotionListener = Callable[[UUID, UUID], Awaitable[None]]


class InventoryHooks:
    def __init__(self) -> None:
        self._listeners: list[InventoryListener] = []

    def add(self, listener: InventoryListener) -> InventoryListener:
        """Register `listener` (usable as a decorator); adding it twice keeps one."""
        if listener not in self._listeners:
            self._listeners.append(listener)
        return listener

    def remove(self, listener: InventoryListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    async def fire(self, event_id: UUID, channel: str) -> None:
        for listener in list(self._listeners):
            try:
                await listener(event_id, channel)
            except Exception as exc:
                log.warning(
                    "inventory listener failed",
                    extra={
                        "event_id": str(event_id),
                        "listener": getattr(listener, "__qualname__", repr(listener)),
                        "error": type(exc).__name__,
                    },
                )


class PromotionHooks:
    def __init__(self) -> None:
        self._listeners: list[PromotionListener] = []

    def add(self, listener: PromotionListener) -> PromotionListener:
        """Register `listener` (usable as a decorator); adding it twice keeps one."""
        if listener not in self._listeners:
            self._listeners.append(listener)
        return listener

    def remove(self, listener: PromotionListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    async def fire(self, event_id: UUID, registration_id: UUID) -> None:
        for listener in list(self._listeners):
            try:
                await listener(event_id, registration_id)
            except Exception as exc:
                log.warning(
                    "promotion listener failed",
                    extra={
                        "event_id": str(event_id),
                        "registration_id": str(registration_id),
                        "listener": getattr(listener, "__qualname__", repr(listener)),
                        "error": type(exc).__name__,
                    },
                )


# The process-wide registries; the mirror and the ticket e-mail add their listeners at
# start-up (the app's lifespan and the worker's startup).
inventory_changed = InventoryHooks()
waitlist_promoted = PromotionHooks()
