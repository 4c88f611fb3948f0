"""Flash sale over HTTP: 5,000 distinct people press "Register" for 100 seats at once.

    python bench/flash_sale.py [--people 5000] [--capacity 100] [--reserve 40]
                               [--connections 64 256] [--workers 2] [--json]

What it does, all on loopback:
1. creates a database for this run (on DATABASE_URL's server, or embedded PostgreSQL and Redis
   when the URLs are unset), migrates it and creates one published event per load level
   (capacity --capacity, native reserve --reserve, "sold out" mode), plus a warm-up event;
2. the ceiling: serves bench/_bare_litestar.py (a registration's request and reply, no work)
   with granian (--workers) and drives it at the highest --connections;
3. the baseline: serves bench/_rowlock_app.py (the same registration as one PostgreSQL
   transaction locking the event's row, `SELECT … FOR UPDATE`; bench-only, not a product
   route) the same way, at every --connections;
4. starts the product as production runs it, as real processes: `community web --workers N`
   (granian) and `community worker` (SAQ), LOG_LEVEL=WARNING, TRUSTED_PROXIES=loopback;
5. at each --connections, fires --people distinct people at one fresh event through
   `POST /api/events/{id}/registrations`, every request with its own X-Forwarded-For (the
   people come from distinct addresses, as in a real rush, so per-address limits apply as in
   production), closed loop: each connection sends its next attempt as soon as it is answered;
6. reads the ledger: seats confirmed, oversell, and whether everyone holding a seat was told so.

The load generator is bench/http_load.py (plain asyncio sockets, one Python process, tens of
microseconds of CPU per request); it shares the machine's cores with the server, PostgreSQL and
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
from bench.http_load import Call, Connection  # noqa: E402
from community.cli import run_served  # noqa: E402
from community.config import Settings  # noqa: E402
from community.db import asyncpg_dsn, migrate  # noqa: E402

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
    pool = [await Connection("127.0.0.1", port, {}).open() for _ in range(connections)]
    pending = iter(enumerate([pool[0].encode(call) for call in calls]))
    phase = Phase(connections)
    cpu_before = group_cpu_s(server.pid) if server else 0.0

    async def drive(connection: Connection) -> None:
        for index, request in pending:
            started = time.perf_counter()
            status, body = await connection.send(request)
            done = time.perf_counter()
            phase.latencies_ms.append((done - started) * 1000)
            if index < connections:
                phase.first_burst_ms.append(phase.latencies_ms[-1])
            answer = answer_of(status, body)
            phase.answers[answer] += 1
            if status == 201:
                phase.last_seat = max(phase.last_seat, done)

    phase.first_sent = time.perf_counter()
    try:
        await asyncio.gather(*(drive(connection) for connection in pool))
    finally:
        phase.seconds = time.perf_counter() - phase.first_sent
        if server:
            phase.server_cpu_s = group_cpu_s(server.pid) - cpu_before
        await asyncio.gather(*(connection.close() for connection in pool))
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


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    load_average = [round(v, 2) for v in os.getloadavg()]
    levels = sorted(args.connections)
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
    processes: list[subprocess.Popen[bytes]] = []
    try:
        await asyncio.to_thread(migrate, settings)
        warm_up, *event_ids = await create_events(
            settings, args.capacity, args.reserve, 1 + len(levels)
        )
        await rowlock_setup(settings, args.capacity, 1 + len(levels))
        api = "/api/events/{}/registrations"
        top = levels[-1]

        # The ceiling: the same requests to a bare endpoint on the same kind of server.
        bare = start_bare_server(args.port + 1, args.workers, tmp)
        try:
            await wait_until_up(f"http://127.0.0.1:{args.port + 1}", bare, tmp / "bare.log", "/")
            await fire(args.port + 1, people(500, api.format(warm_up), tag), top)
            bare_phase = await fire(
                args.port + 1, people(args.people, api.format(event_ids[-1]), tag), top, bare
            )
        finally:
            stop_server(bare)

        # The baseline: a row lock per attempt, over HTTP on the same kind of server.
        rowlock_phases = {}
        rowlock = start_rowlock(settings, args.port + 2, args.workers, tmp)
        try:
            await wait_until_up(
                f"http://127.0.0.1:{args.port + 2}", rowlock, tmp / "rowlock.log", "/"
            )
            await fire(args.port + 2, people(500, "/events/0/registrations", tag), top)
            for index, level in enumerate(levels, start=1):
                calls = people(args.people, f"/events/{index}/registrations", tag)
                rowlock_phases[level] = await fire(args.port + 2, calls, level, rowlock)
        finally:
            stop_server(rowlock)

        # The product, as production runs it.
        base = f"http://127.0.0.1:{args.port}"
        processes = start_product(settings, args.port, args.workers, tmp)
        await wait_until_up(base, processes[0], tmp / "server.log")
        # Warm-up: every worker process loads its code paths and connects its pools.
        await fire(args.port, people(500, api.format(warm_up), f"w{tag}", 1 << 20), top)
        phases: dict[int, Phase] = {}
        ledger: dict[int, tuple[int, int]] = {}
        for level, event_id in zip(levels, event_ids, strict=True):
            calls = people(args.people, api.format(event_id), tag, level << 16)
            phases[level] = await fire(args.port, calls, level, processes[0])
            await asyncio.sleep(0.5)  # let writes in flight settle before reading the ledger
            ledger[level] = await ledger_seats(settings, event_id)
        server_log = (tmp / "server.log").read_text(errors="replace")
    finally:
        for process in processes:
            stop_server(process)
        await admin_sql(services, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await forget_redis_keys(settings)

    results = {}
    for level, phase in phases.items():
        confirmed, seats = ledger[level]
        results[level] = {
            **summary(phase),
            "confirmed": confirmed,
            "distinct_seats": seats,
            "oversell": max(0, confirmed - args.capacity) + (confirmed - seats),
            # People holding a seat in the ledger who were not answered 201.
            "told_failed": max(0, confirmed - phase.created),
        }
    top_result, low_result = results[top], results[levels[0]]
    rowlock_top = rowlock_phases[top].per_second
    return {
        "people": args.people,
        "capacity": args.capacity,
        "reserve": args.reserve,
        "server": f"community web (granian, {args.workers} workers) + community worker, "
        "LOG_LEVEL=WARNING, TRUSTED_PROXIES=loopback",
        "load_generator": "bench/http_load.py: python asyncio sockets, one process, closed loop",
        "cores": os.cpu_count(),
        "load_average_at_start": load_average,
        "levels": {str(level): result for level, result in results.items()},
        "rowlock": {str(level): summary(phase) for level, phase in rowlock_phases.items()},
        "bare": summary(bare_phase),
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
        "rowlock_rps": round(rowlock_top, 1),
        "ratio_vs_rowlock": round(top_result["rps"] / rowlock_top, 2) if rowlock_top else None,
        "bare_rps": round(bare_phase.per_second, 1),
        "ratio_vs_bare": round(top_result["rps"] / bare_phase.per_second, 3),
        "soldout_s": top_result["soldout_s"],
        # The server processes' own CPU per attempt (PostgreSQL and Redis not included).
        "server_cpu_ms_per_request": top_result["server_cpu_ms_per_request"],
        "rowlock_server_cpu_ms_per_request": summary(rowlock_phases[top])[
            "server_cpu_ms_per_request"
        ],
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
