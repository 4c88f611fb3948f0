"""SAQ queues on Redis. Queue names carry a hash tag so each queue lives in one cluster slot.

While Redis is down or loading, a worker's consumers wait with a growing pause between
attempts (not a tight loop), and the outage is logged once when it starts and once when it
ends, not once per attempt.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from saq import Queue
from saq.job import Job
from saq.queue.redis import RedisQueue

from community import redis_keys
from community.config import Settings
from community.tasks.registry import QUEUE_NAMES

log = logging.getLogger("community.queue")
T = TypeVar("T")

REDIS_DOWN = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)
FIRST_PAUSE_S = 0.5
LONGEST_PAUSE_S = 10.0


class QueueOutage:
    """One per process: whether Redis is out of reach, and how long to pause before trying."""

    def __init__(self) -> None:
        self.since: float | None = None
        self.attempts = 0

    async def failed(self, exc: BaseException) -> None:
        if self.since is None:
            self.since, self.attempts = time.monotonic(), 0
            log.warning(
                "job queue unreachable; consumers retry with backoff",
                extra={"error": type(exc).__name__},
            )
        self.attempts += 1
        pause = min(LONGEST_PAUSE_S, FIRST_PAUSE_S * 2 ** min(self.attempts, 10))
        await asyncio.sleep(pause * (0.5 + random.random() / 2))

    def recovered(self) -> None:
        if self.since is not None:
            log.warning(
                "job queue reachable again",
                extra={
                    "down_s": round(time.monotonic() - self.since, 1),
                    "attempts": self.attempts,
                },
            )
            self.since = None


OUTAGE = QueueOutage()


class OutageAwareQueue(RedisQueue):
    """A RedisQueue whose consuming and upkeep calls ride out a Redis outage quietly."""

    async def _guard(self, call: Callable[[], Awaitable[T]], fallback: T) -> T:
        try:
            result = await call()
        except REDIS_DOWN as exc:
            await OUTAGE.failed(exc)
            return fallback
        OUTAGE.recovered()
        return result

    async def dequeue(
        self,
        timeout: float = 0.0,  # noqa: ASYNC109 (SAQ's signature)
        poll_interval: float = 0.0,
    ) -> Job | None:
        return await self._guard(lambda: super(OutageAwareQueue, self).dequeue(timeout), None)

    async def schedule(self, lock: int = 1) -> Any:
        return await self._guard(lambda: super(OutageAwareQueue, self).schedule(lock), [])

    async def sweep(self, lock: int = 60, abort: float = 5.0) -> list[str]:
        return await self._guard(lambda: super(OutageAwareQueue, self).sweep(lock, abort), [])

    async def worker_info(self, *args: Any, **kwargs: Any) -> Any:
        return await self._guard(
            lambda: super(OutageAwareQueue, self).worker_info(*args, **kwargs), None
        )


def queue_name(settings: Settings, name: str) -> str:
    return redis_keys.queue_name(settings.redis_prefix, name)


def make_queues(settings: Settings, redis: Redis) -> dict[str, Queue]:
    return {name: OutageAwareQueue(redis, name=queue_name(settings, name)) for name in QUEUE_NAMES}
