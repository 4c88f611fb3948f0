"""One Redis client per process; keys for one event share a `{ev:<id>}` hash tag.

The client's pool is bounded and blocking: when every connection is busy a command waits up to
REDIS_POOL_WAIT for one, then fails with RedisPoolBusy, which the app answers with a 503 and
Retry-After (community.load_shedding). redis-py's default pool raised MaxConnectionsError at
once instead, and that became 500s in a rush.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from community.config import Settings


class RedisPoolBusy(RedisConnectionError):
    """Every pooled Redis connection stayed busy for the configured wait: we are overloaded."""


class _BoundedPool(BlockingConnectionPool):
    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().get_connection(*args, **kwargs)
        except RedisConnectionError as exc:
            if "No connection available" in str(exc):
                raise RedisPoolBusy("No Redis connection became free in time.") from exc
            raise


def make_redis(
    settings: Settings, *, decode_responses: bool = False, extra_connections: int = 0
) -> Redis:
    """The process's client. `extra_connections`: on top of REDIS_POOL_SIZE, for connections
    held for long (SAQ workers block on one per concurrent job while they wait for work)."""
    assert settings.redis_url, "services must be resolved before Redis is used"
    pool = _BoundedPool.from_url(
        settings.redis_url,
        max_connections=settings.pools.redis_size + extra_connections,
        timeout=settings.pools.redis_wait_s,
        decode_responses=decode_responses,
        health_check_interval=30,
        socket_connect_timeout=5,
        socket_timeout=10,
    )
    return Redis.from_pool(pool)


def event_key(prefix: str, event_id: object, suffix: str) -> str:
    """One event's key; the event id is the hash tag, so all its keys share a cluster slot."""
    return f"{prefix}ev:{{{event_id}}}:{suffix}"
