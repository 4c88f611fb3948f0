"""Who hears that an event's seats changed: the mirror enqueues its pushes from here.

Listeners are async callables taking (event_id, channel). They run after the ledger write has
committed, in the order they were added; a listener that fails is logged and skipped, since
the registration it follows has already happened. The channel lets a listener put pushes that
follow a native registration first (people on our page are waiting for the platforms to close).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from uuid import UUID

log = logging.getLogger("community.inventory")

InventoryListener = Callable[[UUID, str], Awaitable[None]]


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


# The process-wide registry; the mirror adds its enqueueing listener here at start-up.
inventory_changed = InventoryHooks()
