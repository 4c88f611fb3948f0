"""SAQ workers: one per queue, sharing a process, a Redis client and a database pool.

SIGTERM (systemd, Docker, Kubernetes) or SIGINT stops every worker of the process: no new
job is taken, jobs in flight get WORKER_SHUTDOWN_GRACE seconds to finish, and whatever still
runs then is cancelled and put back on its queue (SAQ retries a cancelled job), so another
worker runs it. Then the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import pkgutil
import signal
from typing import Any

from redis.asyncio import Redis
from saq import Worker
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings
from community.db import sqlalchemy_config
from community.logs import configure_logging
from community.queue import OUTAGE, REDIS_DOWN, make_queues
from community.redis_client import make_queue_redis, make_redis
from community.sandbox.runner import default_credentials
from community.services.events.page_versions import install_page_versions
from community.services.jobs import install_mirror, install_payments, install_promotion_mail
from community.services.mirror.clients import default_sandbox_credentials
from community.services.payments.gateway import StripeGateway
from community.tasks import registry
from community.tasks.context import JobContext
from community.tasks.cpu_gate import CpuGate
from community.tasks.registry import QUEUE_NAMES

log = logging.getLogger("community.worker")


class GracefulWorker(Worker[JobContext]):
    """A SAQ worker that stops within a bounded grace period and rides out Redis outages."""

    # The process installs one handler for all its workers (run_workers): SAQ's own would
    # be replaced by each next worker's, so one SIGTERM stopped one worker only.
    SIGNALS: list[signal.Signals] = []

    def __init__(self, *args: Any, grace_s: float = 20.0, **kwargs: Any) -> None:
        super().__init__(*args, shutdown_grace_period_s=0, **kwargs)
        self.grace_s = grace_s

    async def stop(self) -> None:
        self.event.set()  # take no new job
        in_flight = [context["task"] for context in self.job_task_contexts.values()]
        if in_flight:
            _, pending = await asyncio.wait(in_flight, timeout=self.grace_s)
            if pending:
                log.warning(
                    "jobs still running after the grace period: cancelled and re-queued",
                    extra={"jobs": len(pending)},
                )
        # Idle consumers, upkeep loops and anything past the grace: cancelled now. A job
        # cancelled this way is retried by SAQ (put back on its queue).
        remaining = list(self.tasks)
        for task in remaining:
            task.cancel()
        await asyncio.gather(*remaining, return_exceptions=True)
        await super().stop()

    async def schedule(self, lock: int = 1) -> None:
        try:
            await super().schedule(lock)
        except REDIS_DOWN as exc:
            await OUTAGE.failed(exc)


def load_task_modules() -> None:
    """Import every module in community.tasks (and its packages) so their decorators register
    them."""
    import community.tasks as package

    for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        importlib.import_module(module.name)


CONCURRENCY = 10


def dequeue_wait_s(settings: Settings) -> float:
    """How long a consumer's blocking wait for a job lasts before it asks again. SAQ's default
    (forever) ran into the socket timeout on an idle queue, which read as a Redis outage: the
    consumers backed off for seconds while jobs came in."""
    return settings.pools.redis_socket_timeout_s / 2


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
    if settings.platform_mode == "sandbox":
        # Stand-ins started by another process answer to their default credentials.
        default_sandbox_credentials(default_credentials())
    held = held_connections(concurrency)
    redis = redis or make_redis(settings, extra_connections=held)
    queues = make_queues(settings, make_queue_redis(settings, redis, extra_connections=held))
    db_config = sqlalchemy_config(
        settings, pool_size=min(WORKER_DB_POOL_SIZE, settings.pools.db_size)
    )
    session_maker: async_sessionmaker[AsyncSession] = async_sessionmaker(
        db_config.get_engine(), expire_on_commit=False
    )

    async def startup(ctx: JobContext) -> None:
        ctx["settings"], ctx["redis"] = settings, redis
        ctx["session_maker"], ctx["queues"] = session_maker, queues
        # Seats taken by jobs (pulled platform registrations) are mirrored like any other.
        install_mirror(settings, redis, queues, session_maker)
        # Seats freed by jobs (platform cancellations, the reconciler) go to people waiting,
        # who get their ticket by e-mail.
        install_promotion_mail(queues)
        # Seats freed by jobs on a paid event are offered to its waitlist; cancelled paid
        # tickets are refunded by their event's rule.
        install_payments(queues)
        ctx["stripe"] = StripeGateway(settings.stripe)
        if settings.mail_limits.cpu_wait_s:
            ctx["cpu_gate"] = CpuGate(max_wait_s=settings.mail_limits.cpu_wait_s)
        log.info("worker started", extra={"queue": ctx["worker"].queue.name})
        # ...and show on the shared event pages of the web processes.
        install_page_versions(redis, settings.redis_prefix)

    functions = list(registry.TASKS.values())
    workers: list[Worker[Any]] = []
    for name, queue in queues.items():
        workers.append(
            GracefulWorker(
                queue,
                functions=functions,
                # Scheduled jobs run from the default queue only, so each tick runs once.
                cron_jobs=registry.CRON_JOBS if name == "default" else None,
                startup=startup,
                concurrency=concurrency,
                dequeue_timeout=dequeue_wait_s(settings),
                grace_s=settings.worker_grace_s,
            )
        )
    return workers


async def run_workers(settings: Settings) -> None:
    configure_logging(settings.log_level)
    workers = make_workers(settings)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stopping.set)
    running = [asyncio.create_task(worker.start()) for worker in workers]
    asked = asyncio.create_task(stopping.wait())
    try:
        await asyncio.wait([*running, asked], return_when=asyncio.FIRST_COMPLETED)
        if stopping.is_set():
            log.info("stopping", extra={"grace_s": settings.worker_grace_s})
    finally:
        asked.cancel()
        await asyncio.gather(*(worker.stop() for worker in workers), return_exceptions=True)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        log.info("stopped")
