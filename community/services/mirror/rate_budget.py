"""A per-platform-account call budget in Redis, so every worker together stays within limits.

Each account has a token bucket (one Lua script, atomic across processes). A bucket of
capacity ``B`` refilling at ``r`` per second lets through at most ``B + r * W`` calls in any
window ``W``; with ``B = f * L`` and ``r = (1 - f) * L / W`` that is exactly ``L``, the
platform's own limit. ``HEADROOM`` keeps a tenth of it free for the organiser's other tools.

A 429 from the platform closes the account until its Retry-After: no request on that token
leaves earlier, whichever listing or job it is for (``block``, called by the HTTP transport the
moment the 429 arrives). The bucket itself is left as it was, so once the wait is over calls
resume at the platform's documented rate instead of starting from an empty bucket.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

from redis.asyncio import Redis

from community import redis_keys
from community.models.enums import Platform

HEADROOM = 0.9
BURST_FRACTION = 0.2


@dataclass(frozen=True, slots=True)
class PlatformLimit:
    calls: int
    window_s: float

    @property
    def capacity(self) -> float:
        return self.calls * HEADROOM * BURST_FRACTION

    @property
    def refill_per_s(self) -> float:
        return self.calls * HEADROOM * (1 - BURST_FRACTION) / self.window_s


# docs/platforms.md: Meetup 500 points / 60 s; Eventbrite 2,000 calls / hour per token;
# Luma 200 calls / minute per calendar key. One request counts as one point on Meetup.
LIMITS: dict[str, PlatformLimit] = {
    Platform.MEETUP: PlatformLimit(500, 60.0),
    Platform.EVENTBRITE: PlatformLimit(2000, 3600.0),
    Platform.LUMA: PlatformLimit(200, 60.0),
}

_TAKE = """
local key = KEYS[1]
local cap, rate, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local blocked = tonumber(redis.call('HGET', key, 'until') or '0')
if now < blocked then return {0, blocked - now} end
local tokens = tonumber(redis.call('HGET', key, 'tokens') or tostring(cap))
local ts = tonumber(redis.call('HGET', key, 'ts') or tostring(now))
tokens = math.min(cap, tokens + (now - ts) * rate / 1000)
local ttl = math.ceil(cap / rate * 1000) + 1000
if tokens >= cost then
  redis.call('HSET', key, 'tokens', tostring(tokens - cost), 'ts', now)
  redis.call('PEXPIRE', key, ttl)
  return {1, 0}
end
redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', key, ttl)
return {0, math.ceil((cost - tokens) * 1000 / rate)}
"""

# Only the deadline moves: the tokens keep refilling while the account waits.
_BLOCK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local untill = now + tonumber(ARGV[1])
local current = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if untill > current then
  redis.call('HSET', KEYS[1], 'until', untill)
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < tonumber(ARGV[1]) + 60000 then
    redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) + 60000)
  end
end
return untill
"""

# This process's copy of each account's 429 deadline (monotonic clock). It is set in the same
# step that sees the 429, before any other coroutine of the process can send, and checked right
# before a request leaves; Redis carries the same deadline to the other processes.
_local_blocks: dict[str, float] = {}


class BudgetExhausted(Exception):
    """The account's budget has no room within the wait the caller accepts."""

    def __init__(self, platform: str, retry_after: float) -> None:
        super().__init__(f"{platform} call budget spent; room again in {retry_after:.1f} s")
        self.platform = platform
        self.retry_after = retry_after


class RateBudget:
    def __init__(
        self, redis: Redis, prefix: str, limits: dict[str, PlatformLimit] | None = None
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.limits = limits or LIMITS
        self._take = redis.register_script(_TAKE)
        self._block = redis.register_script(_BLOCK)

    def key(self, platform: str, account: str) -> str:
        return redis_keys.rate_budget(self.prefix, platform, account)

    def blocked_for(self, platform: str, account: str) -> float:
        """Seconds this process still holds the account back after a 429 (0.0: not held)."""
        key = self.key(platform, account)
        left = _local_blocks.get(key, 0.0) - time.monotonic()
        if left <= 0:
            _local_blocks.pop(key, None)
            return 0.0
        return left

    def block_here(self, platform: str, account: str, seconds: float) -> None:
        """Hold the account back in this process at once (no await: nothing slips past)."""
        key = self.key(platform, account)
        _local_blocks[key] = max(_local_blocks.get(key, 0.0), time.monotonic() + seconds)

    async def try_take(self, platform: str, account: str, cost: int = 1) -> float:
        """Spend ``cost`` calls now if there is room: 0.0, else the seconds until there is."""
        limit = self.limits[platform]
        if cost > limit.capacity:
            raise ValueError(f"a single request cannot cost more than the {platform} burst")
        if (held := self.blocked_for(platform, account)) > 0:
            return held
        granted, wait_ms = await self._take(
            keys=[self.key(platform, account)],
            args=[limit.capacity, limit.refill_per_s, cost],
        )
        return 0.0 if int(granted) else int(wait_ms) / 1000

    async def acquire(
        self, platform: str, account: str, *, cost: int = 1, max_wait: float = 2.0
    ) -> float:
        """Spend ``cost``, waiting up to ``max_wait`` seconds; returns the time waited.

        Raises ``BudgetExhausted`` when room comes later than that, so a job can reschedule
        itself instead of holding a worker slot.
        """
        started = time.monotonic()
        while True:
            wait = await self.try_take(platform, account, cost)
            if wait == 0.0:
                return time.monotonic() - started
            waited = time.monotonic() - started
            if waited + wait > max_wait:
                raise BudgetExhausted(platform, wait)
            await asyncio.sleep(wait)

    async def block(self, platform: str, account: str, seconds: float) -> None:
        """The platform said 429: nobody on this account calls it for ``seconds``."""
        self.block_here(platform, account, seconds)
        await self._block(
            keys=[self.key(platform, account)], args=[max(1, math.ceil(seconds * 1000))]
        )
