"""Redis clients: a single server or a Redis Cluster (REDIS_URL `redis+cluster://host:port`).

Keys that one script or transaction touches together share a hash tag, so they live in one
cluster slot: `{<event id>}` for an event's keys (`event_key`), `{<listing id>}` for a
listing's job coalescing, `{<platform>:<account>}` for a call budget. The SAQ job queues
keep keys outside their queue's slot, so they run on their own single server (QUEUE_URL)
when REDIS_URL is a cluster.
"""

from __future__ import annotations

from typing import Any, cast

from redis.asyncio import Redis, RedisCluster

from community.config import Settings, is_cluster_url


def make_redis(settings: Settings, *, decode_responses: bool = False) -> Redis:
    """The client for seats, holds, sessions, rate limits and coalescing."""
    assert settings.redis_url, "services must be resolved before Redis is used"
    return connect(settings.redis_url, decode_responses=decode_responses)


def make_queue_redis(settings: Settings) -> Redis:
    """The client for the SAQ job queues (QUEUE_URL, else REDIS_URL)."""
    assert settings.queue_redis_url, "services must be resolved before Redis is used"
    return connect(settings.queue_redis_url)


def connect(url: str, **options: Any) -> Redis:
    """One client for `url`. A cluster client offers the same commands (it routes each key
    to its node), so callers type it as `Redis`."""
    options.update(socket_connect_timeout=5, socket_timeout=10)
    if is_cluster_url(url):
        scheme, rest = url.split("://", 1)
        return cast(
            Redis, RedisCluster.from_url(f"{scheme.removesuffix('+cluster')}://{rest}", **options)
        )
    return Redis.from_url(url, health_check_interval=30, **options)


def event_key(prefix: str, event_id: object, suffix: str) -> str:
    """One event's key; the event id is the hash tag, so all its keys share a cluster slot."""
    return f"{prefix}ev:{{{event_id}}}:{suffix}"
