"""SAQ workers: one per queue, sharing a process, a Redis client and a database pool."""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
from typing import Any

from saq import Worker
from sqlalchemy.ext.asyncio import async_sessionmaker

from community.config import Settings
from community.db import sqlalchemy_config
from community.logs import configure_logging
from community.queue import make_queues
from community.redis_client import make_queue_redis, make_redis
from community.tasks import registry


def load_task_modules() -> None:
    """Import every module in community.tasks so their decorators register them."""
    import community.tasks as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")


def make_workers(settings: Settings, *, concurrency: int = 10) -> list[Worker[Any]]:
    load_task_modules()
    redis = make_redis(settings)
    queues = make_queues(settings, make_queue_redis(settings))
    db_config = sqlalchemy_config(settings, pool_size=5)
    session_maker: async_sessionmaker[Any] = async_sessionmaker(
        db_config.get_engine(), expire_on_commit=False
    )

    async def startup(ctx: dict[str, Any]) -> None:
        ctx.update(settings=settings, redis=redis, session_maker=session_maker, queues=queues)
        from community.tasks.email import install_promotion_mail
        from community.tasks.mirror import install_mirror

        # Seats taken by jobs (pulled platform registrations) are mirrored like any other.
        install_mirror(settings, redis, queues, session_maker)
        # Seats freed by jobs (platform cancellations, the reconciler) go to people waiting,
        # who get their ticket by e-mail.
        install_promotion_mail(queues)

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
