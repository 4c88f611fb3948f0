"""What a job finds in its context: SAQ's own keys, and what the worker puts there at start-up
(community.worker), so that the jobs are type-checked against it.

SAQ hands every job one dict per worker, with the job's own keys added (`job`, `queue`); the
start-up fills in the process's connections once. A job may keep something there for the
jobs after it (the rate budget); a process that runs jobs with its own wiring (the tests, the
demo) may put in the stand-ins' transport or its payments services.
"""

from __future__ import annotations

from typing import Required

import httpx
from redis.asyncio import Redis
from saq import Queue
from saq.types import Context
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings
from community.services.mirror.rate_budget import RateBudget
from community.services.payments.context import Payments
from community.services.payments.gateway import StripeGateway
from community.tasks.cpu_gate import CpuGate


class JobContext(Context, total=False):
    # Put in by the worker's start-up, before any job runs.
    settings: Required[Settings]
    redis: Required[Redis]
    session_maker: Required[async_sessionmaker[AsyncSession]]
    queues: Required[dict[str, Queue]]
    stripe: StripeGateway
    # Ticket e-mails wait behind a rush (absent: they never wait, as in the tests).
    cpu_gate: CpuGate
    # Made by the first job that needs it, then shared by the worker's jobs.
    rate_budget: RateBudget
    # Only where jobs run with other wiring: the platforms' stand-ins, ready-made payments.
    platform_transport: httpx.AsyncBaseTransport
    payments: Payments
