"""One Redis client per process; keys for one event share a `{ev:<id>}` hash tag."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from community.config import Settings


def make_redis(settings: Settings, *, decode_responses: bool = False) -> Redis:
    assert settings.redis_url, "services must be resolved before Redis is used"
    return Redis.from_url(
        settings.redis_url,
        decode_responses=decode_responses,
        health_check_interval=30,
        socket_connect_timeout=5,
        socket_timeout=10,
        # One immediate retry (a pooled connection found dead after a restart), no backoff:
        # while Redis is down or loading, a request gets its 503 at once, not seconds later.
        retry=Retry(NoBackoff(), 1),
    )


def event_key(prefix: str, event_id: object, suffix: str) -> str:
    """One event's key; the event id is the hash tag, so all its keys share a cluster slot."""
    return f"{prefix}ev:{{{event_id}}}:{suffix}"
