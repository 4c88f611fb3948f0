"""`community worker` as production runs it: a real subprocess, its own Redis and database.

It stops on SIGTERM within its grace period (finishing or re-queueing the job in flight), and
it waits out a Redis outage quietly: one log line when it starts, one when it ends.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from community.config import Settings
from community.db import asyncpg_dsn
from community.queue import make_queues
from tests.helpers.outage_servers import OwnRedis


@dataclass
class RunningWorker:
    process: subprocess.Popen[bytes]
    log_path: Path
    settings: Settings  # what the worker uses: its database, its Redis

    def lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()

    def wait_for(self, text: str, within_s: float = 30.0, count: int = 1) -> None:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if sum(text in line for line in self.lines()) >= count:
                return
            assert self.process.poll() is None, "\n".join(self.lines()[-20:])
            time.sleep(0.05)
        raise AssertionError(f"no {text!r} in the worker's log:\n" + "\n".join(self.lines()[-20:]))

    def stop(self, sig: int = signal.SIGTERM, within_s: float = 10.0) -> float:
        started = time.monotonic()
        self.process.send_signal(sig)
        try:
            self.process.wait(within_s)
        except subprocess.TimeoutExpired as exc:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"still running {within_s} s after the signal") from exc
        return time.monotonic() - started


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def worker_database(base_settings: Settings) -> AsyncIterator[str]:
    """A database of its own (the worker's start creates and migrates it), dropped after."""
    assert base_settings.database_url
    name = f"community_worker_{os.getpid()}_{secrets.token_hex(3)}"
    url = make_url(base_settings.database_url).set(database=name)
    yield url.render_as_string(hide_password=False)
    conn = await asyncpg.connect(asyncpg_dsn(base_settings.database_url, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
def start_worker(
    base_settings: Settings, own_redis: OwnRedis, worker_database: str, tmp_path: Path
) -> Iterator[object]:
    started: list[RunningWorker] = []
    prefix = f"w{secrets.token_hex(4)}:"  # every worker of one test shares its queues

    def start(**env: str) -> RunningWorker:
        log_path = tmp_path / f"worker-{len(started)}.log"
        settings = replace(
            base_settings,
            database_url=worker_database,
            redis_url=own_redis.url,
            redis_prefix=prefix,
        )
        environment = {
            **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
            "DATABASE_URL": worker_database.replace("+asyncpg", ""),
            "REDIS_URL": own_redis.url,
            "REDIS_PREFIX": settings.redis_prefix,
            "DATA_DIR": str(tmp_path / "data"),
            "SECRET_KEY": settings.secret_key,
            "LOG_LEVEL": "INFO",
            # The timings below are the worker's own, not those of a niced process sharing
            # the machine with this test run (the test that asks for it checks the niceness).
            "WORKER_NICE": "0",
            **env,
        }
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "community", "worker"],
                env=environment,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        worker = RunningWorker(process, log_path, settings)
        started.append(worker)
        worker.wait_for("worker started", count=2)  # one per queue
        return worker

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait()


def cpu_ticks(pid: int) -> int:
    """User and system CPU time the process used so far, in clock ticks (1/100 s)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def test_a_redis_outage_is_logged_once_and_waited_out_with_backoff(
    start_worker: object, own_redis: OwnRedis
) -> None:
    worker: RunningWorker = start_worker()  # type: ignore[operator]
    time.sleep(1.5)
    before = len(worker.lines())
    own_redis.kill()
    time.sleep(5)
    during = worker.lines()[before:]
    assert sum("job queue unreachable" in line for line in during) == 1, during
    assert len(during) <= 3, during  # no line per attempt, no traceback per upkeep tick
    used = cpu_ticks(worker.process.pid)
    time.sleep(2)
    # Spinning consumers burnt a whole core here; waiting ones use next to nothing.
    assert cpu_ticks(worker.process.pid) - used < 50, "the consumers spin while Redis is down"

    own_redis.start()
    worker.wait_for("job queue reachable again", within_s=20)
    assert worker.stop() < 5


async def test_an_idle_worker_is_not_taken_for_an_outage(
    start_worker: object, worker_database: str
) -> None:
    """Waiting for work longer than Redis's socket timeout (and its one retry) is no outage:
    no log line, no backoff, and the next job is taken at once."""
    worker: RunningWorker = start_worker(REDIS_SOCKET_TIMEOUT="1", WORKER_NICE="10")  # type: ignore[operator]
    # It yields the CPU to the web processes (WORKER_NICE).
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    assert os.getpriority(os.PRIO_PROCESS, worker.process.pid) == min(19, ours + 10)
    before = len(worker.lines())
    await asyncio.sleep(4)
    idle = worker.lines()[before:]
    assert not any("job queue" in line for line in idle), idle

    redis = Redis.from_url(worker.settings.redis_url or "")
    key = f"idle:{uuid.uuid4()}"
    queued = time.monotonic()
    await make_queues(worker.settings, redis)["urgent"].enqueue(
        "send_signin_email", key=key, member_id=str(uuid.uuid4()), email="nobody@example.com"
    )
    await redis.aclose()
    while (await _job_status(worker, key))[0] != "complete":
        assert time.monotonic() - queued < 2, "the idle worker was slow to take the job"
        await asyncio.sleep(0.05)
    assert worker.stop() < 5


async def test_sigterm_lets_the_job_in_flight_finish_within_the_grace(
    start_worker: object, worker_database: str
) -> None:
    worker: RunningWorker = start_worker(WORKER_SHUTDOWN_GRACE="10")  # type: ignore[operator]
    job_key, holder = await _job_stuck_on_a_lock(worker)
    try:
        elapsed_before_release = 1.0
        worker.process.send_signal(signal.SIGTERM)
        await asyncio.sleep(elapsed_before_release)
        assert worker.process.poll() is None  # waiting for its job, as it should
    finally:
        await holder.close()  # the lock goes: the job can finish
    worker.process.wait(10)
    assert worker.process.returncode == 0
    assert (await _job_status(worker, job_key)) == ("complete", "skipped: no profile")


async def test_sigterm_requeues_a_job_still_running_after_the_grace(
    start_worker: object, worker_database: str
) -> None:
    worker: RunningWorker = start_worker(WORKER_SHUTDOWN_GRACE="1")  # type: ignore[operator]
    job_key, holder = await _job_stuck_on_a_lock(worker)
    try:
        took = worker.stop(within_s=8)
        assert took < 6, took  # the grace (1 s) and the cancellation, not the job's 30 s
        assert worker.process.returncode == 0
        # Put back on its queue for the next worker, not lost and not marked failed.
        status, _ = await _job_status(worker, job_key)
        assert status == "queued"
        assert any("cancelled and re-queued" in line for line in worker.lines())
    finally:
        await holder.close()

    # The next worker runs it to the end.
    second: RunningWorker = start_worker()  # type: ignore[operator]
    deadline = time.monotonic() + 20
    while (await _job_status(second, job_key))[0] != "complete":
        assert time.monotonic() < deadline, "the re-queued job never ran"
        await asyncio.sleep(0.2)
    assert second.stop() < 5


async def _job_stuck_on_a_lock(worker: RunningWorker) -> tuple[str, asyncpg.Connection]:
    """Queue a sign-in mail job and make its first query wait on a lock the test holds."""
    holder = await asyncpg.connect(asyncpg_dsn(worker.settings.database_url or ""))
    await holder.execute("BEGIN; LOCK TABLE members IN ACCESS EXCLUSIVE MODE")
    redis = Redis.from_url(worker.settings.redis_url or "")
    queues = make_queues(worker.settings, redis)
    key = f"lifecycle:{uuid.uuid4()}"
    await queues["urgent"].enqueue(
        "send_signin_email",
        key=key,
        member_id=str(uuid.uuid4()),
        email="nobody@example.com",
        timeout=60,
    )
    await redis.aclose()
    deadline = time.monotonic() + 20
    while (await _job_status(worker, key))[0] != "active":  # taken, and waiting on the lock
        assert time.monotonic() < deadline, "the worker never took the job"
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    return key, holder


async def _job_status(worker: RunningWorker, key: str) -> tuple[str, object]:
    redis = Redis.from_url(worker.settings.redis_url or "")
    try:
        job = await make_queues(worker.settings, redis)["urgent"].job(key)
        assert job is not None
        return job.status.value, job.result
    finally:
        await redis.aclose()
