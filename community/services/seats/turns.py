"""Turns: at most `size` registrations ask the Traffic Cop at once; the others wait, first
come first served.

What asyncio's Semaphore does, for the rush's every attempt: entering it cost two coroutine
calls and a look over its waiters, a twentieth of a refusal's CPU. Here a free turn is taken
without an await, and a finished turn goes straight to the first in line.
"""

from __future__ import annotations

import asyncio
from collections import deque


class Turns:
    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("at least one turn is needed")
        self.free = size
        self._waiting: deque[asyncio.Future[None]] = deque()

    async def __aenter__(self) -> None:
        if self.free and not self._waiting:
            self.free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._pass_on()  # handed a turn just as it stopped waiting: the next one's
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        self._pass_on()

    def _pass_on(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():  # a waiter cancelled meanwhile is skipped
                waiter.set_result(None)
                return
        self.free += 1
