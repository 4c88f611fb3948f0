"""The list of SAQ tasks and scheduled jobs; each task module registers itself here.

Two queues: `urgent` for work a person is waiting on (mirroring after a native registration,
sign-in mails), `default` for everything else, so a backlog of pulls never delays a push.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from saq import CronJob

Task = Callable[..., Awaitable[Any]]

TASKS: dict[str, Task] = {}
CRON_JOBS: list[CronJob[Any]] = []
QUEUE_NAMES = ("urgent", "default")


def task(fn: Task) -> Task:
    """Decorator: make `fn` runnable by the workers under its own name."""
    TASKS[fn.__name__] = fn
    return fn


def cron(schedule: str, **job_kwargs: Any) -> Callable[[Task], Task]:
    """Decorator: run `fn` on a cron schedule (one run per schedule tick across all workers)."""

    def register(fn: Task) -> Task:
        task(fn)
        CRON_JOBS.append(CronJob(fn, cron=schedule, **job_kwargs))
        return fn

    return register
