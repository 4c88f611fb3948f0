"""Door check-in benchmark: API latency and throughput on a 5,000-person roster, and how long
the door page takes to hold that roster offline.

    python bench/checkin.py [--people 5000] [--connections 64] [--workers 2] [--json]

What it does, all on loopback:
1. creates a database for this run (on DATABASE_URL's server, or on embedded PostgreSQL and
   Redis when the URLs are unset), migrates it, and registers --people people at one event;
2. starts the product's own web server (`community web`: granian) in a subprocess;
3. signs a door user in and drives the API over --connections keep-alive connections with
   bench/http_load.py (plain asyncio sockets, one client process). Phases, in this order:
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
4. opens the door page in headless Chromium with a fresh profile and times, from navigation
   start, until the page reports the roster and the page itself saved for offline use
   (`roster_offline_s`, the median of --browser-runs).

Every check-in verifies a real Ed25519 ticket, claims the registration and writes the log;
three in four of the bench's guests registered on a platform, so those also queue the
platform hand-back job. The load generator shares the machine's cores with the server,
PostgreSQL and Redis, so the figures are a floor for the server, not a ceiling.
With --json the last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import secrets
import signal
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
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http_load import Call, Run, closed_loop, open_loop  # noqa: E402
from community.config import Settings, load_settings  # noqa: E402
from community.db import asyncpg_dsn, migrate  # noqa: E402
from community.models import Role, User  # noqa: E402
from community.services.passwords import hash_password  # noqa: E402
from community.services.tickets import ticket_signer  # noqa: E402
from tests.checkin.factory import add_people, make_event  # noqa: E402

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
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url or "",
        "REDIS_URL": settings.redis_url or "",
        "SECRET_KEY": settings.secret_key,
        "REDIS_PREFIX": settings.redis_prefix,
        "DATA_DIR": str(tmp),
        "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "community", "web", "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(workers)]  # fmt: skip
    return subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip


def stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


async def wait_until_up(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=base) as client:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                error = (server.stderr.read() if server.stderr else b"").decode()[-2000:]
                raise RuntimeError(f"the server exited:\n{error}")
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the server did not answer /healthz within 60 s")


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
        base = f"http://127.0.0.1:{port}"
        server = start_server(settings, port, args.workers, tmp)
        await wait_until_up(base, server)
        cookies = await sign_in(base, email)

        headers = {"Cookie": "; ".join(f"{c.name}={c.value}" for c in cookies.jar)}
        api = f"/door/api/events/{event_id}/checkins"
        scans = [Call("POST", api, {"device": "Bench door", "token": t}) for t in tokens]
        fifth, half = len(scans) // 5, len(scans) // 2
        load = ("127.0.0.1", port, headers)
        keys = [Call("GET", "/door/api/key")] * args.people
        baseline = await closed_loop(*load, keys, args.connections)
        light = await open_loop(*load, scans[:fifth], args.connections, args.light_rate)
        paced = await open_loop(*load, scans[fifth:half], args.connections, args.rate)
        saturated = await closed_loop(*load, scans[half:], args.connections)
        rescan = await closed_loop(*load, scans, args.connections)

        async with httpx.AsyncClient(base_url=base, cookies=cookies) as client:
            roster = (await client.get(f"/door/api/events/{event_id}/roster")).content
        offline = [] if args.skip_browser else await roster_offline_seconds(
            base, cookies, event_id, args.browser_runs
        )  # fmt: skip
    finally:
        if server is not None:
            stop_server(server)
        await admin_sql(services, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return {
        "people": args.people,
        "connections": args.connections,
        "server": f"granian, {args.workers} worker(s)",
        "load_generator": "bench/http_load.py: python asyncio sockets, one process",
        "rate": args.rate,
        "cores": os.cpu_count(),
        "seed_s": round(seed_s, 2),
        "baseline_key": summary(baseline),
        "light_rate": args.light_rate,
        "checkin_light": summary(light),
        "checkin_paced": summary(paced),
        "checkin_saturated": summary(saturated),
        "rescan": summary(rescan),
        "roster_json_bytes": len(roster),
        "roster_gzip_bytes": len(gzip.compress(roster)),
        "roster_offline_runs_s": [round(t, 3) for t in offline],
        "p99_ms": round(paced.percentile(0.99), 2),
        "p99_saturated_ms": round(saturated.percentile(0.99), 2),
        "p99_light_ms": round(light.percentile(0.99), 2),
        "checkins_per_s": round(saturated.per_second, 1),
        "roster_offline_s": round(statistics.median(offline), 3) if offline else None,
        "targets": TARGETS,
    }


def report(figures: dict[str, Any]) -> str:
    lines = [
        f"Door check-in, {figures['people']} people, {figures['connections']} connections, "
        f"{figures['server']}; load: {figures['load_generator']}; {figures['cores']} cores",
        f"{'phase':<22}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}  results",
    ]
    rows = (
        ("baseline_key", "baseline GET /key"),
        ("checkin_light", f"check-in @{figures['light_rate']:.0f}/s"),
        ("checkin_paced", f"check-in @{figures['rate']:.0f}/s"),
        ("checkin_saturated", "check-in, saturated"),
        ("rescan", "rescan (amber)"),
    )
    for key, label in rows:
        phase = figures[key]
        lines.append(
            f"{label:<22}{phase['per_s']:>9.0f}{phase['p50_ms']:>9.1f}{phase['p99_ms']:>9.1f}"
            f"{phase['max_ms']:>9.1f}  {phase['results']}"
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
    figures = asyncio.run(bench(args))
    print(report(figures))
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
