"""Coalescing jobs per listing (pushes, pulls) without ever losing the last change.

SAQ's job key (``push:<listing_id>``) makes duplicate jobs collapse, but an enqueue while the
job is already running is refused too, and that change would be lost. So every change also
bumps a version in Redis, and one runner at a time (a lease) does the work for the state read
after the version it saw; before it lets go, it checks the version atomically and runs again
if it moved.

    request   INCR want; is a runner holding the lease?   (yes: the runner will see it)
    acquire   take the lease if free; remember want as `seen`
    settle    still want == seen? drop the lease, done = seen : else go again with the new want

Because ``settle`` checks and drops the lease in one script, a request either lands before
it (the runner sees the bump and goes again) or finds no runner (and enqueues a new job).
All keys of a listing share a hash tag, so the scripts work on Redis Cluster too.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

from redis.asyncio import Redis
from saq import Queue
from saq.job import Status

from community import redis_keys

log = logging.getLogger("community.jobs")
T = TypeVar("T")

LEASE_MS = 120_000
VERSION_TTL_MS = 14 * 24 * 3600 * 1000
BUSY = -1
LOST = -2
# A bounded wait (under half a second) for the tiny window in which a finished job is still
# listed as active.
ENQUEUE_SETTLE_TRIES = 12

_REQUEST = """
local v = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return {v, redis.call('EXISTS', KEYS[2])}
"""

_ACQUIRE = """
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return tonumber(redis.call('GET', KEYS[1]) or '0')
end
return -1
"""

_SETTLE = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -2 end
local want = tonumber(redis.call('GET', KEYS[1]) or '0')
if want == tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[2])
  redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[4])
  return -1
end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return want
"""

_RELEASE = """
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 0
"""


@dataclass(frozen=True, slots=True)
class Request:
    version: int
    runner_active: bool


@dataclass(frozen=True, slots=True)
class Progress:
    want: int
    done: int
    runner_active: bool

    @property
    def pending(self) -> bool:
        return self.want > self.done


class Coalescer:
    """One per kind of job ("push", "pull"); keys are per listing."""

    def __init__(self, redis: Redis, prefix: str, kind: str = "push") -> None:
        self.redis = redis
        self.prefix = prefix
        self.kind = kind
        self._request = redis.register_script(_REQUEST)
        self._acquire = redis.register_script(_ACQUIRE)
        self._settle = redis.register_script(_SETTLE)
        self._release = redis.register_script(_RELEASE)

    def _keys(self, listing_id: UUID | str) -> list[str]:
        return redis_keys.coalescing(self.prefix, self.kind, listing_id)

    async def request(self, listing_id: UUID | str) -> Request:
        """Note a change; ``runner_active`` means the running job is bound to pick it up."""
        version, active = await self._request(keys=self._keys(listing_id), args=[VERSION_TTL_MS])
        return Request(int(version), bool(int(active)))

    async def acquire(self, listing_id: UUID | str) -> tuple[str, int] | None:
        """The lease token and the version seen, or None when another runner holds it."""
        token = secrets.token_hex(12)
        seen = int(await self._acquire(keys=self._keys(listing_id), args=[token, LEASE_MS]))
        return None if seen == BUSY else (token, seen)

    async def settle(self, listing_id: UUID | str, token: str, seen: int) -> int | None:
        """None when done (lease dropped) or the lease was lost; else the version to push next."""
        result = int(
            await self._settle(
                keys=self._keys(listing_id), args=[token, seen, LEASE_MS, VERSION_TTL_MS]
            )
        )
        return None if result in (BUSY, LOST) else result

    async def release(self, listing_id: UUID | str, token: str) -> None:
        """Drop the lease without settling (the job failed and will be retried)."""
        await self._release(keys=self._keys(listing_id), args=[token])

    async def progress(self, listing_id: UUID | str) -> Progress:
        want, runner, done = await self.redis.mget(self._keys(listing_id))
        return Progress(int(want or 0), int(done or 0), runner is not None)


async def enqueue_coalesced(
    coalescer: Coalescer,
    queue: Queue,
    listing_id: UUID | str,
    *,
    function: str,
    key: str,
    **job: Any,
) -> None:
    """Note a change and make sure a job will act on it, however busy the listing is.

    ``job`` holds SAQ job fields (timeout, retries...) and ``kwargs`` for the function.
    """
    request = await coalescer.request(listing_id)
    if request.runner_active:
        return  # the runner settles only after it has seen this version
    for attempt in range(ENQUEUE_SETTLE_TRIES):
        if await queue.enqueue(function, key=key, **job) is not None:
            return
        existing = await queue.job(key)
        if existing is not None and existing.status in (Status.NEW, Status.QUEUED):
            return  # not started yet (or waiting to retry): it reads the state when it runs
        progress = await coalescer.progress(listing_id)
        if progress.runner_active or progress.done >= request.version:
            return  # a runner took over after our bump, or already went past it
        # Active, but either before taking the lease or just after settling: look again.
        await asyncio.sleep(min(0.002 * 2**attempt, 0.05))
    # Left to the scheduled sweep (tasks.pull.pull_all_listings re-enqueues pending work).
    log.warning("job still finishing", extra={"key": key})


async def run_coalesced(
    coalescer: Coalescer, listing_id: UUID | str, work: Callable[[], Awaitable[T]]
) -> list[T] | None:
    """Run ``work`` under the listing's lease until no change arrived meanwhile.

    None when another runner holds the lease (it will see our change). On an exception the
    lease is dropped without settling, so the retry (or the next change) runs the work again.
    """
    lease = await coalescer.acquire(listing_id)
    if lease is None:
        return None
    token, seen = lease
    results: list[T] = []
    try:
        while True:
            results.append(await work())
            following = await coalescer.settle(listing_id, token, seen)
            if following is None:
                return results
            seen = following
    except BaseException:
        await coalescer.release(listing_id, token)
        raise
