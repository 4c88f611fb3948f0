"""The one fixed-window limiter behind every limit on a visitor or a sign-in.

A counter is a Redis key that counts attempts in a window opened by its first attempt.
The visitor limits (visitor_limits) count every attempt and refuse the one over the
limit; the sign-in throttle (login_throttle) asks first and counts failures only. Both
read the same counters the same way and tell the wait in the same words.
"""

from __future__ import annotations

from redis.asyncio import Redis

# One counter's window: count the attempt, start the window with the first (or heal a key
# left without expiry), return the count and the seconds left. One key per script, so each
# runs in one cluster slot; several counters go in one pipeline, one round trip.
COUNT = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('TTL', KEYS[1])
if count == 1 or ttl < 0 then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
    ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""


async def count(redis: Redis, counters: list[tuple[str, int]]) -> list[tuple[int, int]]:
    """Count one attempt on each (key, window in seconds); each counter's (count, seconds
    left in its window)."""
    async with redis.pipeline(transaction=False) as pipe:
        for key, window_s in counters:
            pipe.eval(COUNT, 1, key, window_s)
        answers = await pipe.execute()
    return [(int(hits), int(ttl)) for hits, ttl in answers]


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
