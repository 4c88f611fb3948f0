"""Flash sale over HTTP: 5,000 distinct people press "Register" for 100 seats at once.

    python bench/flash_sale.py [--people 5000] [--capacity 100] [--reserve 40]
                               [--connections 64 256] [--workers 2] [--rounds 3] [--json]

What it does, all on loopback:
1. creates a database for this run (on DATABASE_URL's server, or embedded PostgreSQL and Redis
   when the URLs are unset), migrates it and creates one published event per load level and
   round (capacity --capacity, native reserve --reserve, "sold out" mode), plus a warm-up event;
2. starts three servers side by side, each with granian (--workers):
   - the ceiling: bench/_bare_litestar.py (a registration's request and reply, no work);
   - the baseline: bench/_rowlock_app.py (the same registration as one PostgreSQL transaction
     locking the event's row, `SELECT … FOR UPDATE`; bench-only, not a product route);
   - the product as production runs it, as real processes: `community web --workers N` and
     `community worker` (SAQ), LOG_LEVEL=WARNING, TRUSTED_PROXIES=loopback;
3. each round fires --people distinct people at the bare server (at the highest
   --connections), then at the row lock and then at the product at every --connections, each
   time at one fresh event through `POST …/registrations`, every request with its own
   X-Forwarded-For (the people come from distinct addresses, as in a real rush, so
   per-address limits apply as in production), closed loop: each connection sends its next
   attempt as soon as it is answered. Before each phase it waits until the machine is
   nearly idle (the worker's e-mails and pushes after a rush, PostgreSQL's writes after a
   row-lock run belong to the phase before). After each rush of the product it reads the
   ledger: seats confirmed, oversell, and whether everyone holding a seat was told so;
4. reports each figure over the rounds: attempts/s as the median round, latencies pooled over
   all rounds, the worst round for seats, oversell and the time the last seat went.

One phase of 5,000 attempts lasts about a second, so a single phase swings by 15 % and more
with what else the machine does in that second (seen here: the row lock alone from 840 to
1,580 attempts/s within one run); the rounds and their order are there for that.

The load generator is bench/http_load.py (asyncio callbacks on uvloop, one Python process, a
few microseconds of CPU per request); it shares the machine's cores with the server, PostgreSQL and
Redis. With --json the last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.checkin import (  # noqa: E402
    _spawn,
    admin_sql,
    forget_redis_keys,
    service_settings,
    start_bare_server,
    stop_server,
    wait_until_up,
)
from bench.http_load import Call, Connection, drive_closed  # noqa: E402
from community.cli import run_served  # noqa: E402
from community.config import Settings  # noqa: E402
from community.db import asyncpg_dsn, migrate  # noqa: E402
from community.tasks.cpu_gate import machine_busy_s  # noqa: E402

TARGETS: dict[str, tuple[str, float]] = {
    "oversell": ("==", 0),
    "errors_5xx": ("==", 0),
    "ratio_vs_rowlock": (">=", 3),
    "ratio_vs_bare": (">=", 0.3),
    "p99_ms": ("<", 300),
    "soldout_s": ("<", 0.5),
}
COMPARE = {
    "==": lambda a, b: a == b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
}


# ----------------------------------------------------------------------------- load


@dataclass
class Phase:
    """One load level's answers, with when the first attempt left and the last seat went."""

    connections: int
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    # The first attempt of each connection: all sent at once, as the doors open.
    first_burst_ms: list[float] = field(default_factory=list)
    answers: Counter[str] = field(default_factory=Counter)
    first_sent: float = 0.0
    last_seat: float = 0.0
    server_cpu_s: float = 0.0

    @property
    def per_second(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    def percentile(self, q: float, latencies_ms: list[float] | None = None) -> float:
        ordered = sorted(self.latencies_ms if latencies_ms is None else latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0

    @property
    def created(self) -> int:
        return sum(n for answer, n in self.answers.items() if answer.startswith("201"))

    @property
    def errors_5xx(self) -> int:
        return sum(n for answer, n in self.answers.items() if answer.startswith("5"))


def answer_of(status: int, body: bytes) -> str:
    """`201`, or the status with the API's stable `code` (`409 sold_out`, `503 unavailable`)."""
    if status < 300:
        return str(status)
    try:
        code = json.loads(body).get("code", "")
    except (ValueError, AttributeError):
        code = ""
    return f"{status} {code}".strip()


def group_cpu_s(group: int) -> float:
    """CPU seconds used so far by the processes of one process group (a server and its
    workers): what the server costs, whatever else the machine is doing meanwhile."""
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group:  # pgrp
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


async def fire(
    port: int, calls: list[Call], connections: int, server: subprocess.Popen[bytes] | None = None
) -> Phase:
    """Closed loop over `connections` keep-alive sockets; each answer is timed and classified."""
    encoder = Connection("127.0.0.1", port, {})
    requests = [encoder.encode(call) for call in calls]
    phase = Phase(connections)
    cpu_before = group_cpu_s(server.pid) if server else 0.0
    answers: dict[tuple[int, bytes], str] = {}  # most answers are the same bytes: parse once

    def answered(index: int, sent_at: float, status: int, body: bytes) -> None:
        done = time.perf_counter()
        latency_ms = (done - sent_at) * 1000
        phase.latencies_ms.append(latency_ms)
        if index < connections:
            phase.first_burst_ms.append(latency_ms)
        answer = answers.get((status, body))
        if answer is None:
            answer = answers[status, body] = answer_of(status, body)
        phase.answers[answer] += 1
        if status == 201:
            phase.last_seat = max(phase.last_seat, done)

    phase.first_sent, finished = await drive_closed(
        "127.0.0.1", port, requests, connections, answered
    )
    phase.seconds = finished - phase.first_sent
    if server:
        phase.server_cpu_s = group_cpu_s(server.pid) - cpu_before
    return phase


def people(count: int, path: str, tag: str, first_address: int = 0) -> list[Call]:
    """`count` distinct people, each from an address of their own (X-Forwarded-For)."""
    calls = []
    for index in range(count):
        n = first_address + index
        address = f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
        body = {"name": f"Person {index:05d}", "email": f"p{index:05d}.{tag}@bench.example"}
        calls.append(Call("POST", path, body, (("X-Forwarded-For", address),)))
    return calls


# ----------------------------------------------------------------------------- setup


async def create_events(settings: Settings, capacity: int, reserve: int, count: int) -> list[str]:
    """Published events in "sold out" mode, the registration open; their ids."""
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from community.models import Event, EventStatus, SoldOutMode

    engine = create_async_engine(settings.database_url or "")
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            starts = datetime.now(UTC) + timedelta(days=7)
            events = [
                Event(
                    slug=f"flash-sale-{secrets.token_hex(4)}",
                    title="Flash sale night",
                    starts_at=starts,
                    ends_at=starts + timedelta(hours=3),
                    timezone="Europe/Berlin",
                    venue_name="Community Hall",
                    city="Berlin",
                    status=EventStatus.PUBLISHED,
                    published_at=datetime.now(UTC),
                    capacity=capacity,
                    native_reserve=reserve,
                    soldout_mode=SoldOutMode.SOLD_OUT,
                )
                for _ in range(count)
            ]
            session.add_all(events)
            await session.commit()
            return [str(event.id) for event in events]
    finally:
        await engine.dispose()


async def ledger_seats(settings: Settings, event_id: str) -> tuple[int, int]:
    """(confirmed registrations, distinct seat numbers among them) in PostgreSQL."""
    conn = await asyncpg.connect(asyncpg_dsn(settings.database_url or ""))
    try:
        row = await conn.fetchrow(
            "SELECT count(*) AS confirmed, count(DISTINCT seat_no) AS seats FROM registrations"
            " WHERE event_id = $1 AND status = 'confirmed'",
            event_id,
        )
        return int(row["confirmed"]), int(row["seats"])
    finally:
        await conn.close()


async def rowlock_setup(settings: Settings, capacity: int, count: int) -> None:
    from bench._rowlock_app import SCHEMA

    conn = await asyncpg.connect(asyncpg_dsn(settings.database_url or ""))
    try:
        await conn.execute(SCHEMA)
        for event_id in range(count):
            await conn.execute(
                "INSERT INTO rowlock_events (id, capacity) VALUES ($1, $2)", event_id, capacity
            )
    finally:
        await conn.close()


def product_env(settings: Settings, tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url or "",
        "REDIS_URL": settings.redis_url or "",
        "SECRET_KEY": settings.secret_key,
        "REDIS_PREFIX": settings.redis_prefix,
        "DATA_DIR": str(tmp),
        "LOG_LEVEL": "WARNING",
        # The load generator stands in for a reverse proxy on loopback.
        "TRUSTED_PROXIES": "127.0.0.1/32, ::1",
    }


def start_product(
    settings: Settings, port: int, workers: int, tmp: Path
) -> list[subprocess.Popen[bytes]]:
    env = product_env(settings, tmp)
    web = [sys.executable, "-m", "community", "web", "--host", "127.0.0.1",
           "--port", str(port), "--workers", str(workers)]  # fmt: skip
    worker = [sys.executable, "-m", "community", "worker"]
    return [_spawn(web, env, tmp / "server.log"), _spawn(worker, env, tmp / "worker.log")]


def start_rowlock(
    settings: Settings, port: int, workers: int, tmp: Path
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ROWLOCK_DSN": asyncpg_dsn(settings.database_url or "")}
    command = [sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(workers),
               "bench._rowlock_app:app"]  # fmt: skip
    return _spawn(command, env, tmp / "rowlock.log")


# ----------------------------------------------------------------------------- main


def summary(phase: Phase) -> dict[str, Any]:
    return {
        "connections": phase.connections,
        "attempts": len(phase.latencies_ms),
        "rps": round(phase.per_second, 1),
        "p50_ms": round(phase.percentile(0.50), 1),
        "p99_ms": round(phase.percentile(0.99), 1),
        "max_ms": round(max(phase.latencies_ms, default=0.0), 1),
        # Where the tail comes from: the opening burst (a cold event, every seat taken and
        # written at once) against the rest of the rush.
        "first_burst_p99_ms": round(phase.percentile(0.99, phase.first_burst_ms), 1),
        "answers": dict(sorted(phase.answers.items())),
        "created": phase.created,
        "errors_5xx": phase.errors_5xx,
        "soldout_s": round(phase.last_seat - phase.first_sent, 3) if phase.created else None,
        "server_cpu_ms_per_request": round(
            phase.server_cpu_s * 1000 / max(1, len(phase.latencies_ms)), 3
        ),
    }


async def quiet_machine(window_s: float = 0.25, busy_share: float = 0.1) -> None:
    """Until the machine is nearly idle (under `busy_share` of one core over `window_s`):
    the worker's mail and pushes of the last rush, PostgreSQL's writes after a row-lock run,
    are the last phase's cost, not the next one's. At most 15 s."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        before = machine_busy_s()
        await asyncio.sleep(window_s)
        after = machine_busy_s()
        if before is None or after is None or after - before <= busy_share * window_s:
            return


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def pooled(phases: list[Phase]) -> Phase:
    """The rounds of one load level as one phase: every answer and latency, summed time."""
    whole = Phase(phases[0].connections)
    # Its "last seat" is the latest of the rounds, each counted from its own first attempt.
    whole.last_seat = max(phase.last_seat - phase.first_sent for phase in phases)
    for phase in phases:
        whole.seconds += phase.seconds
        whole.latencies_ms += phase.latencies_ms
        whole.first_burst_ms += phase.first_burst_ms
        whole.answers += phase.answers
        whole.server_cpu_s += phase.server_cpu_s
    return whole


def over_rounds(phases: list[Phase]) -> dict[str, Any]:
    """One level's figures over its rounds: attempts/s of the median round, the rest pooled."""
    rounds_rps = [round(phase.per_second, 1) for phase in phases]
    return {
        **summary(pooled(phases)),
        "rps": round(median(rounds_rps), 1),
        "rounds_rps": rounds_rps,
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    load_average = [round(v, 2) for v in os.getloadavg()]
    levels = sorted(args.connections)
    rounds = range(args.rounds)
    tmp = Path(tempfile.mkdtemp(prefix="community-flash-"))
    services = service_settings(tmp)
    name = f"community_flash_{os.getpid()}_{secrets.token_hex(3)}"
    await admin_sql(services, f'CREATE DATABASE "{name}"')
    url = make_url(services.database_url or "").set(database=name)
    settings = replace(
        services,
        database_url=url.render_as_string(hide_password=False),
        redis_prefix=f"bench{secrets.token_hex(3)}:",
    )
    tag = secrets.token_hex(3)
    api = "/api/events/{}/registrations"
    top = levels[-1]
    bare_port, rowlock_port = args.port + 1, args.port + 2
    processes: list[subprocess.Popen[bytes]] = []
    try:
        await asyncio.to_thread(migrate, settings)
        warm_up, *event_ids = await create_events(
            settings, args.capacity, args.reserve, 1 + len(levels) * args.rounds
        )
        events = iter(event_ids)
        await rowlock_setup(settings, args.capacity, 1 + len(levels) * args.rounds)
        rowlock_events = iter(range(1, 1 + len(levels) * args.rounds))

        # All three servers run side by side, and each round measures them one after the
        # other: a slower or busier stretch of the machine's time then falls on all of them,
        # not on whichever happened to be measured in it.
        # The ceiling: the same requests to a bare endpoint on the same kind of server.
        processes.append(start_bare_server(bare_port, args.workers, tmp))
        # The baseline: a row lock per attempt, over HTTP on the same kind of server.
        processes.append(start_rowlock(settings, rowlock_port, args.workers, tmp))
        # The product, as production runs it.
        product = start_product(settings, args.port, args.workers, tmp)
        processes += product
        bare, rowlock, web, _worker = processes
        await wait_until_up(f"http://127.0.0.1:{bare_port}", bare, tmp / "bare.log", "/")
        await wait_until_up(f"http://127.0.0.1:{rowlock_port}", rowlock, tmp / "rowlock.log", "/")
        await wait_until_up(f"http://127.0.0.1:{args.port}", web, tmp / "server.log")
        # Warm-up: every worker process loads its code paths and connects its pools.
        await fire(bare_port, people(500, api.format(warm_up), tag), top)
        await fire(rowlock_port, people(500, "/events/0/registrations", tag), top)
        await fire(args.port, people(500, api.format(warm_up), f"w{tag}", 1 << 20), top)

        bare_phases: list[Phase] = []
        rowlock_phases: dict[int, list[Phase]] = {level: [] for level in levels}
        phases: dict[int, list[Phase]] = {level: [] for level in levels}
        ledger: dict[int, list[tuple[int, int]]] = {level: [] for level in levels}
        for round_no in rounds:
            calls = people(args.people, api.format(warm_up), f"b{round_no}{tag}")
            await quiet_machine()
            bare_phases.append(await fire(bare_port, calls, top, bare))
            for level in levels:
                path = f"/events/{next(rowlock_events)}/registrations"
                await quiet_machine()
                rowlock_phases[level].append(
                    await fire(rowlock_port, people(args.people, path, tag), level, rowlock)
                )
            for index, level in enumerate(levels):
                event_id = next(events)
                # Addresses of their own in every phase, so no per-address limit carries over.
                first_address = (32 + round_no * len(levels) + index) << 16
                calls = people(args.people, api.format(event_id), tag, first_address)
                await quiet_machine()
                phases[level].append(await fire(args.port, calls, level, web))
                await asyncio.sleep(0.5)  # let writes in flight settle before reading the ledger
                ledger[level].append(await ledger_seats(settings, event_id))
        server_log = (tmp / "server.log").read_text(errors="replace")
    finally:
        for process in processes:
            stop_server(process)
        await admin_sql(services, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await forget_redis_keys(settings)

    def checked(phase: Phase, seats: tuple[int, int]) -> dict[str, Any]:
        confirmed, distinct = seats
        return {
            "confirmed": confirmed,
            "distinct_seats": distinct,
            "oversell": max(0, confirmed - args.capacity) + (confirmed - distinct),
            # People holding a seat in the ledger who were not answered 201.
            "told_failed": max(0, confirmed - phase.created),
        }

    results = {}
    for level in levels:
        runs = [checked(*pair) for pair in zip(phases[level], ledger[level], strict=True)]
        results[level] = {
            **over_rounds(phases[level]),
            "confirmed": min(run["confirmed"] for run in runs),
            "oversell": max(run["oversell"] for run in runs),
            "told_failed": max(run["told_failed"] for run in runs),
        }
    rowlock_results = {level: over_rounds(rowlock_phases[level]) for level in levels}
    bare_result = over_rounds(bare_phases)
    top_result, low_result = results[top], results[levels[0]]
    rowlock_top = rowlock_results[top]["rps"]
    return {
        "people": args.people,
        "capacity": args.capacity,
        "reserve": args.reserve,
        "rounds": args.rounds,
        "server": f"community web (granian, {args.workers} workers) + community worker, "
        "LOG_LEVEL=WARNING, TRUSTED_PROXIES=loopback",
        "load_generator": "bench/http_load.py: python asyncio callbacks, one process, closed loop",
        "cores": os.cpu_count(),
        "load_average_at_start": load_average,
        "levels": {str(level): result for level, result in results.items()},
        "rowlock": {str(level): result for level, result in rowlock_results.items()},
        "bare": bare_result,
        "server_log_errors": server_log.count('"level": "error"'),
        "oversell": max(result["oversell"] for result in results.values()),
        "confirmed": top_result["confirmed"],
        "told_failed": max(result["told_failed"] for result in results.values()),
        "errors_5xx": sum(result["errors_5xx"] for result in results.values()),
        "throughput_rps": top_result["rps"],
        "throughput_rps_64": low_result["rps"],
        "p50_ms": top_result["p50_ms"],
        "p99_ms": top_result["p99_ms"],
        "first_burst_p99_ms": top_result["first_burst_p99_ms"],
        "rowlock_rps": rowlock_top,
        "ratio_vs_rowlock": round(top_result["rps"] / rowlock_top, 2) if rowlock_top else None,
        "bare_rps": bare_result["rps"],
        "ratio_vs_bare": round(top_result["rps"] / bare_result["rps"], 3),
        "soldout_s": top_result["soldout_s"],
        # The server processes' own CPU per attempt (PostgreSQL and Redis not included).
        "server_cpu_ms_per_request": top_result["server_cpu_ms_per_request"],
        "rowlock_server_cpu_ms_per_request": rowlock_results[top]["server_cpu_ms_per_request"],
    }


def report(figures: dict[str, Any]) -> str:
    lines = [
        f"Flash sale over HTTP: {figures['people']} people, C={figures['capacity']}, "
        f"R={figures['reserve']}; {figures['server']}",
        f"load: {figures['load_generator']}; {figures['cores']} cores "
        f"(load average at start {figures['load_average_at_start']})",
        "",
        f"{'':<12}{'connections':>12}{'attempts/s':>12}{'p50':>9}{'p99':>9}{'cpu/req':>10}"
        "  answers; seats",
    ]

    def row(label: str, result: dict[str, Any], seats: str = "") -> str:
        answers = ", ".join(f"{n} x {answer}" for answer, n in result["answers"].items())
        return (
            f"{label:<12}{result['connections']:>12}{result['rps']:>12.0f}"
            f"{result['p50_ms']:>7.0f}ms{result['p99_ms']:>7.0f}ms"
            f"{result['server_cpu_ms_per_request']:>8.2f}ms  {answers}{seats}"
        )

    for result in figures["levels"].values():
        seats = (
            f"; {result['confirmed']} seats in the ledger, last gone after "
            f"{result['soldout_s']} s, {result['told_failed']} told it failed"
        )
        lines.append(row("product", result, seats))
    for result in figures["rowlock"].values():
        lines.append(row("row lock", result))
    lines.append(row("bare", figures["bare"]))
    bursts = [f"{r['first_burst_p99_ms']:.0f} ms at {c}" for c, r in figures["levels"].items()]
    lines.append("first burst (each connection's first attempt) p99: " + ", ".join(bursts))
    lines.append("")
    lines.append(
        f"vs row lock {figures['ratio_vs_rowlock']}x, vs bare Litestar "
        f"{figures['ratio_vs_bare']:.0%}; server log errors: {figures['server_log_errors']}"
    )
    for key, (relation, target) in TARGETS.items():
        value = figures[key]
        ok = value is not None and COMPARE[relation](value, target)
        lines.append(f"  {key} = {value} (target {relation} {target}): {'met' if ok else 'MISSED'}")
    ok = figures["throughput_rps"] >= figures["throughput_rps_64"]
    lines.append(
        f"  throughput_rps = {figures['throughput_rps']} (target >= throughput_rps_64 = "
        f"{figures['throughput_rps_64']}): {'met' if ok else 'MISSED'}"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=5000)
    parser.add_argument("--capacity", type=int, default=100)
    parser.add_argument("--reserve", type=int, default=40)
    parser.add_argument("--connections", type=int, nargs="+", default=[64, 256])
    parser.add_argument(
        "--rounds", type=int, default=3, help="each level measured this often; medians reported"
    )
    parser.add_argument("--workers", type=int, default=2, help="granian web workers")
    parser.add_argument("--port", type=int, default=8775)
    parser.add_argument("--json", action="store_true", help="end with one JSON line of figures")
    args = parser.parse_args()
    figures = run_served(bench(args))  # the load generator on uvloop too: less of its CPU
    print(report(figures))
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
