"""SAQ workers: one per queue, sharing a process, a Redis client and a database pool."""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
from typing import Any

from redis.asyncio import Redis
from saq import Worker
from sqlalchemy.ext.asyncio import async_sessionmaker

from community.config import Settings
from community.db import sqlalchemy_config
from community.logs import configure_logging
from community.queue import make_queues
from community.redis_client import make_queue_redis, make_redis
from community.tasks import registry
from community.tasks.registry import QUEUE_NAMES


def load_task_modules() -> None:
    """Import every module in community.tasks so their decorators register them."""
    import community.tasks as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")


CONCURRENCY = 10
WORKER_DB_POOL_SIZE = 5


def held_connections(concurrency: int = CONCURRENCY) -> int:
    """Redis connections the workers hold while they wait for work: one blocking dequeue per
    concurrent job of each queue, and each queue's pubsub and upkeep."""
    return len(QUEUE_NAMES) * (concurrency + 2)


def make_workers(
    settings: Settings, *, concurrency: int = CONCURRENCY, redis: Redis | None = None
) -> list[Worker[Any]]:
    """`redis`: the process's one client when the web app shares the process (its pool must
    have room for `held_connections`); by default the workers make their own."""
    load_task_modules()
    held = held_connections(concurrency)
    redis = redis or make_redis(settings, extra_connections=held)
    queues = make_queues(settings, make_queue_redis(settings, redis, extra_connections=held))
    db_config = sqlalchemy_config(
        settings, pool_size=min(WORKER_DB_POOL_SIZE, settings.pools.db_size)
    )
    session_maker: async_sessionmaker[Any] = async_sessionmaker(
        db_config.get_engine(), expire_on_commit=False
    )

    async def startup(ctx: dict[str, Any]) -> None:
        ctx.update(settings=settings, redis=redis, session_maker=session_maker, queues=queues)
        from community.services.page_versions import install_page_versions
        from community.tasks.email import install_promotion_mail
        from community.tasks.mirror import install_mirror

        # Seats taken by jobs (pulled platform registrations) are mirrored like any other.
        install_mirror(settings, redis, queues, session_maker)
        # Seats freed by jobs (platform cancellations, the reconciler) go to people waiting,
        # who get their ticket by e-mail.
        install_promotion_mail(queues)
        # ...and show on the shared event pages of the web processes.
        install_page_versions(redis, settings.redis_prefix)

    functions = list(registry.TASKS.values())
    workers = []
    for name, queue in queues.items():
        workers.append(
            Worker(
                queue,
                functions=functions,
                # Scheduled jobs run from the default queue only, so each tick runs once.
                cron_jobs=registry.CRON_JOBS if name == "default" else None,
                startup=startup,
                concurrency=concurrency,
            )
        )
    return workers


async def run_workers(settings: Settings) -> None:
    configure_logging(settings.log_level)
    workers = make_workers(settings)
    try:
        await asyncio.gather(*(worker.start() for worker in workers))
    finally:
        await asyncio.gather(*(worker.stop() for worker in workers), return_exceptions=True)
