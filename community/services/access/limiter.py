"""The one fixed-window limiter behind every limit on a visitor or a sign-in.

A counter is a Redis key that counts attempts in a window opened by its first attempt.
The visitor limits (visitor_limits) count every attempt and refuse the one over the
limit; the sign-in throttle (login_throttle) asks first and counts failures only. Both
read the same counters the same way and tell the wait in the same words.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from redis.asyncio import Redis

# One counter's window: count the attempt, start the window with the first (or heal a key
# left without expiry), return the count and the seconds left. A Lua function, so the seat
# scripts can count a registration's attempt in the same call that takes the seat
# (services.seats.inventory), the one round trip a refusal in a rush costs.
COUNT_FUNCTION = """
-- {count, seconds left in the window}. Given `max_hits`, an attempt within it is answered
-- without asking the window (0 seconds: nothing to wait), and a key that lost its expiry gets
-- one back once over the limit: the common attempt costs the script two calls, not three.
local function count_hit(key, window_s, max_hits)
    local count = redis.call('INCR', key)
    if count == 1 then
        redis.call('EXPIRE', key, window_s)
        return {count, tonumber(window_s)}
    end
    if max_hits and count <= max_hits then return {count, 0} end
    local ttl = redis.call('TTL', key)
    if ttl < 0 then
        redis.call('EXPIRE', key, window_s)
        ttl = tonumber(window_s)
    end
    return {count, ttl}
end

-- Count one attempt on each of `n` counters, KEYS[first_key...] with their maximum and
-- window in ARGV[first_arg...] (two each); the seconds to wait, 0 when every one allows it.
local function wait_after_hits(first_key, first_arg, n)
    local wait = 0
    for i = 0, n - 1 do
        local max_hits = tonumber(ARGV[first_arg + 2 * i])
        local hit = count_hit(KEYS[first_key + i], ARGV[first_arg + 2 * i + 1], max_hits)
        if hit[1] > max_hits then
            wait = math.max(wait, math.max(1, hit[2]))
        end
    end
    return wait
end
"""
# One key per script, so each runs in one cluster slot; several counters go in one pipeline,
# one round trip.
COUNT = COUNT_FUNCTION + "return count_hit(KEYS[1], ARGV[1])"


class Counter(NamedTuple):
    """One attempt to count: the counter's key, the most attempts its window allows, and the
    window's length. (A tuple: a rush makes two per attempt.)"""

    key: str
    max_hits: int
    window_s: int

    def script_args(self) -> tuple[int, int]:
        """This counter's ARGV pair for `wait_after_hits`."""
        return self.max_hits, self.window_s


async def count(redis: Redis, counters: list[tuple[str, int]]) -> list[tuple[int, int]]:
    """Count one attempt on each (key, window in seconds); each counter's (count, seconds
    left in its window)."""
    async with redis.pipeline(transaction=False) as pipe:
        for key, window_s in counters:
            pipe.eval(COUNT, 1, key, window_s)
        answers = await pipe.execute()
    return [(int(hits), int(ttl)) for hits, ttl in answers]


async def wait_after_hits(redis: Redis, counters: Sequence[Counter]) -> int:
    """Count one attempt on each counter; 0 if all allow it, else the longest wait in
    seconds (as the Lua function of the same name)."""
    counts = await count(redis, [(c.key, c.window_s) for c in counters])
    waits = [
        max(1, ttl)
        for counter, (hits, ttl) in zip(counters, counts, strict=True)
        if hits > counter.max_hits
    ]
    return max(waits, default=0)


async def wait_when_full(redis: Redis, counters: list[tuple[str, int, int]]) -> int:
    """Without counting: the seconds until every (key, max hits, window) counter below its
    maximum again, 0 when none is full. A full counter that lost its expiry waits a window."""
    # Keys in different cluster slots: a pipeline (not MGET) reads them in one round trip.
    async with redis.pipeline(transaction=False) as pipe:
        for key, _, _ in counters:
            pipe.get(key)
            pipe.ttl(key)
        answers = await pipe.execute()
    waits = [
        int(ttl) if int(ttl) > 0 else window_s
        for (_, max_hits, window_s), hits, ttl in zip(
            counters, answers[::2], answers[1::2], strict=True
        )
        if int(hits or 0) >= max_hits
    ]
    return max(waits, default=0)


def wait_text(seconds: int) -> str:
    """The wait in whole minutes, rounded up: never a shorter wait than the real one."""
    minutes = max(1, -(-seconds // 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"
