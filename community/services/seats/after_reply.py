"""Work that follows a seat change already committed, run beside the reply instead of before it.

In a rush the event loop is busy with hundreds of requests, and every await on the way to a
person's answer waits its turn behind them. The mirror's pushes and the ticket e-mail's job
need not hold the answer back: the seat and the e-mail's outbox row are already committed, the
outbox's re-drive job sends a mail whose job was never queued, and the minute pull and the
reconciler catch up with a push that never ran. So the web app starts them as tasks and answers.
At shutdown the app waits for the ones still running.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("community.after_reply")


class AfterReply:
    def __init__(self) -> None:
        self._running: set[asyncio.Task[Any]] = set()

    def start(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._running.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning(
                "work after a reply failed", extra={"error": type(task.exception()).__name__}
            )

    @property
    def running(self) -> int:
        return len(self._running)

    async def drain(self, within_s: float = 10.0) -> None:
        """Wait for what is still running (at shutdown), at most `within_s`."""
        if self._running:
            await asyncio.wait(set(self._running), timeout=within_s)
