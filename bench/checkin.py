"""Door check-in benchmark: API latency and throughput on a 5,000-person roster, and how long
the door page takes to hold that roster offline.

    python bench/checkin.py [--people 5000] [--connections 64] [--workers 2] [--json]

What it does, all on loopback:
1. creates a database for this run (on DATABASE_URL's server, or on embedded PostgreSQL and
   Redis when the URLs are unset), migrates it, and registers --people people at one event;
2. serves bench/_bare_litestar.py with granian (--workers) and drives it like the check-ins
   below: the ceiling, a bare Litestar endpoint taking the same request with no middleware,
   database or Redis (closed loop, then at --rate);
3. starts the product's own web server (`community web`: granian, --workers, LOG_LEVEL=INFO
   as installed, its log going to a file) in a subprocess;
4. signs a door user in, takes a door token as the door page does, and drives the API over
   --connections keep-alive connections with bench/http_load.py (plain asyncio sockets, one
   client process). Phases, in this order:
     baseline      GET /door/api/key, closed loop: the same sign-in check, no ticket, no write;
     busy venue    a fifth of the tickets at --light-rate per second (open loop): the latency
                   a door sees on a busy night (twenty doors, a scan every two seconds each
                   is 10/s; the default is ten times that);
     paced         three tenths at --rate per second (open loop): the latency at the target
                   load; `p99_ms` comes from here;
     saturated     the other half as fast as the server answers (closed loop): the ceiling,
                   `checkins_per_s` comes from here (its p99 is reported too: at saturation
                   it is queueing, 64 requests waiting on two cores);
     rescan        every ticket again, closed loop: the amber path;
5. opens the door page in headless Chromium with a fresh profile and times, from navigation
   start, until the page reports the roster and the page itself saved for offline use
   (`roster_offline_s`, the median of --browser-runs).

Every check-in verifies a real Ed25519 ticket, claims the registration and writes the log;
three in four of the bench's guests registered on a platform, so those are also handed back
(queued for the platform hand-back job). For each phase it reports the CPU time per request
of the web server's processes, of PostgreSQL's and Redis's (when they run on this machine),
and of the load generator, and how busy the machine's cores were: the load generator shares
them with the server, PostgreSQL and Redis, so the figures are a floor for the server, not a
ceiling. With --json the last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from redis.asyncio import Redis
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http_load import Call, Run, closed_loop, open_loop  # noqa: E402
from community.cli import run_served  # noqa: E402
from community.config import Settings, load_settings  # noqa: E402
from community.db import asyncpg_dsn, migrate  # noqa: E402
from community.demo.ledger_rows import add_people, make_event  # noqa: E402
from community.models import Role, User  # noqa: E402
from community.services.access.passwords import hash_password  # noqa: E402
from community.services.tickets.signatures import ticket_signer  # noqa: E402

TARGETS = {"p99_ms": 50.0, "checkins_per_s": 500.0, "roster_offline_s": 2.0}
PASSWORD = "bench door password"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def summary(run: Run) -> dict[str, Any]:
    return {
        "requests": run.requests,
        "per_s": round(run.per_second, 1),
        "p50_ms": round(run.percentile(0.50), 2),
        "p99_ms": round(run.percentile(0.99), 2),
        "max_ms": round(max(run.latencies_ms, default=0.0), 2),
        "results": dict(run.outcomes),
    }


# ----------------------------------------------------------------------------- CPU accounting

TICKS = os.sysconf("SC_CLK_TCK")


def _processes() -> list[tuple[int, str, int, float]]:
    """(pid, name, process group, CPU seconds) of every process this user can see."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                head, _, rest = stat.read().rpartition(")")
        except OSError:
            continue
        fields = rest.split()
        name = head.partition("(")[2]
        found.append(
            (int(entry.name), name, int(fields[2]), (int(fields[11]) + int(fields[12])) / TICKS)
        )
    return found


def _cpu_by_role(server_group: int | None) -> dict[str, float]:
    totals = {"server": 0.0, "postgres": 0.0, "redis": 0.0}
    for _, name, group, seconds in _processes():
        if server_group is not None and group == server_group:
            totals["server"] += seconds
        elif name == "postgres":
            totals["postgres"] += seconds
        elif name.startswith("redis-server"):
            totals["redis"] += seconds
    return totals


def _machine_times() -> tuple[float, float]:
    """(busy, total) jiffies of all cores since boot."""
    with open("/proc/stat") as stat:
        values = [float(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


async def measured(run: Any, server: subprocess.Popen[bytes] | None) -> dict[str, Any]:
    """Run one phase; its figures, with CPU per request of each party and how busy the cores
    were. PostgreSQL's backends that end during the phase are not counted (the pool keeps
    them); processes of another user or in a container are not seen (reported as 0)."""
    group = os.getpgid(server.pid) if server is not None else None
    before, busy0, total0, client0 = _cpu_by_role(group), *_machine_times(), time.process_time()
    result: Run = await run
    after, busy1, total1 = _cpu_by_role(group), *_machine_times()
    client = time.process_time() - client0
    figures = summary(result)
    per_request = 1000 / max(result.requests, 1)
    for role in ("server", "postgres", "redis"):
        spent = after[role] - before[role]
        # Below zero: processes that ended took their CPU time with them (not counted).
        figures[f"{role}_cpu_ms_per_req"] = round(spent * per_request, 3) if spent >= 0 else None
    figures["client_cpu_ms_per_req"] = round(client * per_request, 3)
    figures["cores_busy_pct"] = round(100 * (busy1 - busy0) / max(total1 - total0, 1), 1)
    return figures


# ----------------------------------------------------------------------------- setup


def service_settings(tmp: Path) -> Settings:
    env = {k: v for k, v in os.environ.items() if k in ("DATABASE_URL", "REDIS_URL")}
    env.update(DATA_DIR=str(tmp), SECRET_KEY="bench-" + secrets.token_urlsafe(40))
    settings = load_settings(env)
    if settings.embedded:
        from community.app import resolve_services

        settings = resolve_services(settings)
    return settings


async def admin_sql(settings: Settings, sql: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(settings.database_url or "", "postgres"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def forget_redis_keys(settings: Settings) -> None:
    """The run's sessions and queued jobs (its Redis prefix), as its database is dropped."""
    client = Redis.from_url(settings.redis_url or "")
    try:
        keys = [key async for key in client.scan_iter(match=f"*{settings.redis_prefix}*")]
        for start in range(0, len(keys), 1000):
            await client.unlink(*keys[start : start + 1000])
    finally:
        await client.aclose()


async def seed(settings: Settings, people: int) -> tuple[str, list[str], str]:
    """One event with `people` confirmed registrations; returns (event id, tokens, user email)."""
    engine = create_async_engine(settings.database_url or "")
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            event = await make_event(session, title="Bench night", capacity=people)
            names = [f"Guest {index:05d}" for index in range(people)]
            registered = await add_people(session, event, names)
            email = f"door-{secrets.token_hex(3)}@bench.example"
            session.add(
                User(email=email, name="Bench door", role=Role.DOOR,
                     password_hash=hash_password(PASSWORD))
            )  # fmt: skip
            await session.commit()
            signer = ticket_signer(settings.secret_key)
            tokens = [signer.sign(event.id, person.registration_id) for person in registered]
            return str(event.id), tokens, email
    finally:
        await engine.dispose()


def start_server(settings: Settings, port: int, workers: int, tmp: Path) -> subprocess.Popen[bytes]:
    """`community web` as installed (log level INFO: one JSON line per request), logging to
    a file in the run's folder (a pipe nobody reads would stall it)."""
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url or "",
        "REDIS_URL": settings.redis_url or "",
        "SECRET_KEY": settings.secret_key,
        "REDIS_PREFIX": settings.redis_prefix,
        "DATA_DIR": str(tmp),
        "LOG_LEVEL": "INFO",
    }
    command = [sys.executable, "-m", "community", "web", "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(workers)]  # fmt: skip
    return _spawn(command, env, tmp / "server.log")


def start_bare_server(port: int, workers: int, tmp: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(workers),
               "bench._bare_litestar:app"]  # fmt: skip
    return _spawn(command, dict(os.environ), tmp / "bare.log")


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    if "--port" in command:
        # Servers listen with SO_REUSEPORT: a leftover server on the same port would quietly
        # take half the connections, and the figures would be another server's.
        port = int(command[command.index("--port") + 1])
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            raise SystemExit(f"port {port} is already served by another process; stop it first")
    with open(log, "ab") as output:
        return subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True,
                                stdout=output, stderr=subprocess.STDOUT)  # fmt: skip


def stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


async def wait_until_up(
    base: str, server: subprocess.Popen[bytes], log: Path, path: str = "/healthz"
) -> None:
    """Until `path` answers (any answer from the bare server, 200 from /healthz)."""
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=base) as client:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                tail = await asyncio.to_thread(log.read_text)
                raise RuntimeError(f"the server exited:\n{tail[-2000:]}")
            try:
                status = (await client.get(path)).status_code
                if status == 200 or path != "/healthz":
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"the server did not answer {path} within 60 s")


async def door_token(base: str, cookies: httpx.Cookies) -> str | None:
    """A door token, as the door page takes one (None from a server without them)."""
    async with httpx.AsyncClient(base_url=base, cookies=cookies) as client:
        response = await client.get("/door/token", headers={"accept": "application/json"})
    return str(response.json()["token"]) if response.status_code == 200 else None


async def sign_in(base: str, email: str) -> httpx.Cookies:
    async with httpx.AsyncClient(base_url=base) as client:
        await client.get("/login")
        response = await client.post(
            "/login",
            data={"email": email, "password": PASSWORD},
            headers={"x-csrftoken": client.cookies.get("csrftoken") or ""},
        )
        if response.status_code != 303:
            raise RuntimeError(f"sign-in failed with {response.status_code}")
        return client.cookies


# ----------------------------------------------------------------------------- browser


async def roster_offline_seconds(
    base: str, cookies: httpx.Cookies, event_id: str, runs: int
) -> list[float]:
    """From navigation start to "roster ready offline", each run with a fresh browser profile."""
    from playwright.async_api import async_playwright

    timings = []
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            for _ in range(runs):
                context = await browser.new_context(viewport={"width": 390, "height": 844})
                await context.add_cookies(
                    [{"name": c.name, "value": c.value or "", "url": base} for c in cookies.jar]
                )
                page = await context.new_page()
                await page.goto(f"{base}/door/events/{event_id}")
                await page.wait_for_selector("#door[data-offline-ready='1']", timeout=60000)
                ready_ms = await page.evaluate("window.doorTimings.offlineReady")
                timings.append(ready_ms / 1000)
                await context.close()
        finally:
            await browser.close()
    return timings


# ----------------------------------------------------------------------------- main


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    load_average = [round(v, 2) for v in os.getloadavg()]
    tmp = Path(tempfile.mkdtemp(prefix="community-bench-"))
    services = service_settings(tmp)
    name = f"community_bench_{os.getpid()}_{secrets.token_hex(3)}"
    await admin_sql(services, f'CREATE DATABASE "{name}"')
    url = make_url(services.database_url or "").set(database=name)
    settings = replace(
        services,
        database_url=url.render_as_string(hide_password=False),
        redis_prefix=f"bench{secrets.token_hex(3)}:",
    )
    server = None
    try:
        await asyncio.to_thread(migrate, settings)
        started = time.perf_counter()
        event_id, tokens, email = await seed(settings, args.people)
        seed_s = time.perf_counter() - started
        port = args.port
        api = f"/door/api/events/{event_id}/checkins"
        scans = [Call("POST", api, {"device": "Bench door", "token": t}) for t in tokens]
        fifth, half = len(scans) // 5, len(scans) // 2

        # The ceiling: the bare endpoint on the same server, the same client and bodies.
        bare = start_bare_server(port + 1, args.workers, tmp)
        try:
            await wait_until_up(f"http://127.0.0.1:{port + 1}", bare, tmp / "bare.log", "/")
            load = ("127.0.0.1", port + 1, {})
            bare_closed = await measured(closed_loop(*load, scans[half:], args.connections), bare)
            bare_paced = await measured(
                open_loop(*load, scans[fifth:half], args.connections, args.rate), bare
            )
        finally:
            stop_server(bare)

        base = f"http://127.0.0.1:{port}"
        server = start_server(settings, port, args.workers, tmp)
        await wait_until_up(base, server, tmp / "server.log")
        cookies = await sign_in(base, email)
        token = await door_token(base, cookies)

        headers = {"Cookie": "; ".join(f"{c.name}={c.value}" for c in cookies.jar)}
        if token is not None:
            headers["X-Door-Token"] = token
        load = ("127.0.0.1", port, headers)
        keys = [Call("GET", "/door/api/key")] * args.people
        baseline = await measured(closed_loop(*load, keys, args.connections), server)
        light = await measured(
            open_loop(*load, scans[:fifth], args.connections, args.light_rate), server
        )
        paced = await measured(
            open_loop(*load, scans[fifth:half], args.connections, args.rate), server
        )
        saturated = await measured(closed_loop(*load, scans[half:], args.connections), server)
        rescan = await measured(closed_loop(*load, scans, args.connections), server)

        async with httpx.AsyncClient(base_url=base, cookies=cookies) as client:
            roster = (await client.get(f"/door/api/events/{event_id}/roster")).content
        offline = [] if args.skip_browser else await roster_offline_seconds(
            base, cookies, event_id, args.browser_runs
        )  # fmt: skip
        log_lines = (await asyncio.to_thread((tmp / "server.log").read_text)).count("\n")
    finally:
        if server is not None:
            stop_server(server)
        await admin_sql(services, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await forget_redis_keys(settings)

    return {
        "people": args.people,
        "connections": args.connections,
        "server": f"granian, {args.workers} worker(s), LOG_LEVEL=INFO",
        "load_generator": "bench/http_load.py: python asyncio sockets, one process",
        "door_token": token is not None,
        "rate": args.rate,
        "cores": os.cpu_count(),
        "load_average_at_start": load_average,
        "seed_s": round(seed_s, 2),
        "bare_litestar_saturated": bare_closed,
        "bare_litestar_paced": bare_paced,
        "baseline_key": baseline,
        "light_rate": args.light_rate,
        "checkin_light": light,
        "checkin_paced": paced,
        "checkin_saturated": saturated,
        "rescan": rescan,
        "server_log_lines": log_lines,
        "roster_json_bytes": len(roster),
        "roster_gzip_bytes": len(gzip.compress(roster)),
        "roster_offline_runs_s": [round(t, 3) for t in offline],
        "p99_ms": paced["p99_ms"],
        "p99_saturated_ms": saturated["p99_ms"],
        "p99_light_ms": light["p99_ms"],
        "checkins_per_s": saturated["per_s"],
        "bare_litestar_per_s": bare_closed["per_s"],
        "roster_offline_s": round(statistics.median(offline), 3) if offline else None,
        "targets": TARGETS,
    }


def _ms(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}"


def report(figures: dict[str, Any]) -> str:
    lines = [
        f"Door check-in, {figures['people']} people, {figures['connections']} connections, "
        f"{figures['server']}; load: {figures['load_generator']}; {figures['cores']} cores "
        f"(load average at start {figures['load_average_at_start']})",
        f"{'phase':<24}{'req/s':>7}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}"
        f"  {'CPU ms/req: server':>18}{'pg':>6}{'redis':>6}{'client':>7}{'busy%':>6}  results",
    ]
    rows = (
        ("bare_litestar_saturated", "bare Litestar, saturated"),
        ("bare_litestar_paced", f"bare Litestar @{figures['rate']:.0f}/s"),
        ("baseline_key", "baseline GET /key"),
        ("checkin_light", f"check-in @{figures['light_rate']:.0f}/s"),
        ("checkin_paced", f"check-in @{figures['rate']:.0f}/s"),
        ("checkin_saturated", "check-in, saturated"),
        ("rescan", "rescan (amber)"),
    )
    for key, label in rows:
        phase = figures[key]
        cpu = [_ms(phase[f"{role}_cpu_ms_per_req"]) for role in ("server", "postgres", "redis")]
        lines.append(
            f"{label:<24}{phase['per_s']:>7.0f}{phase['p50_ms']:>8.1f}{phase['p99_ms']:>8.1f}"
            f"{phase['max_ms']:>8.1f}  {cpu[0]:>18}{cpu[1]:>6}{cpu[2]:>6}"
            f"{phase['client_cpu_ms_per_req']:>7.2f}{phase['cores_busy_pct']:>6.0f}"
            f"  {phase['results']}"
        )
    offline = figures["roster_offline_s"]
    lines.append(
        f"roster of {figures['people']} ready offline: "
        + (f"{offline:.2f} s (runs {figures['roster_offline_runs_s']})" if offline else "skipped")
        + f"; roster JSON {figures['roster_json_bytes'] / 1024:.0f} KiB"
        f" ({figures['roster_gzip_bytes'] / 1024:.0f} KiB gzipped)"
    )
    for key, target in TARGETS.items():
        value = figures[key]
        if value is None:
            continue
        ok = value >= target if key == "checkins_per_s" else value < target
        relation = ">=" if key == "checkins_per_s" else "<"
        lines.append(f"  {key} = {value} (target {relation} {target}): {'met' if ok else 'MISSED'}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2, help="granian web workers")
    parser.add_argument("--rate", type=float, default=500.0, help="check-ins/s, paced phase")
    parser.add_argument("--light-rate", type=float, default=100.0, help="check-ins/s, busy venue")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--browser-runs", type=int, default=3)
    parser.add_argument("--skip-browser", action="store_true")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of figures")
    args = parser.parse_args()
    figures = run_served(bench(args))  # the load generator on uvloop too: less of its CPU
    print(report(figures))
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
