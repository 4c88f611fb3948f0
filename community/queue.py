"""SAQ queues on Redis. Queue names carry a hash tag so each queue lives in one cluster slot."""

from __future__ import annotations

from redis.asyncio import Redis
from saq import Queue
from saq.queue.redis import RedisQueue

from community.config import Settings
from community.tasks.registry import QUEUE_NAMES


def queue_name(settings: Settings, name: str) -> str:
    return f"{{{settings.redis_prefix}q:{name}}}"


def make_queues(settings: Settings, redis: Redis) -> dict[str, Queue]:
    return {name: RedisQueue(redis, name=queue_name(settings, name)) for name in QUEUE_NAMES}
