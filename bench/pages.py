"""Public pages over HTTP: an event's page against a static file on the same server.

    python bench/pages.py [--requests 5000] [--connections 64] [--workers 2] [--json]

It creates a database for this run (DATABASE_URL's server, or embedded PostgreSQL and Redis
when the URLs are unset) with one published event, starts the product as production runs it
(`community web --workers N` on granian and `community worker`, LOG_LEVEL=WARNING), and drives,
closed loop over --connections keep-alive connections, as a browser asks (Accept-Encoding:
gzip, no cookies: an anonymous visitor):
- the static file `/static/vendor/htmx.min.js` (the baseline: the server doing no work);
- the event's page `/events/<slug>`;
then both again without asking for compression (`*_uncompressed`; the figures named in the
issue are the browser-like ones).
`transfer_kb` is the size of the event page as sent (gzipped when the server compresses it).

The load generator is bench/http_load.py (asyncio callbacks, one Python process); it
shares the machine's cores with the server. With --json the last line printed is one JSON
object of the figures.
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
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.checkin import (  # noqa: E402
    admin_sql,
    forget_redis_keys,
    service_settings,
    stop_server,
    wait_until_up,
)
from bench.flash_sale import create_events, start_product  # noqa: E402
from bench.http_load import Call, Run, closed_loop  # noqa: E402
from community.cli import run_served  # noqa: E402
from community.db import migrate  # noqa: E402

TARGETS = {"ratio_vs_static": 0.5}
BROWSER = {"Accept-Encoding": "gzip", "Accept": "text/html"}


def summary(run: Run) -> dict[str, Any]:
    return {
        "requests": run.requests,
        "rps": round(run.per_second, 1),
        "p50_ms": round(run.percentile(0.50), 1),
        "p99_ms": round(run.percentile(0.99), 1),
        "answers": dict(run.outcomes),
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    load_average = [round(v, 2) for v in os.getloadavg()]
    tmp = Path(tempfile.mkdtemp(prefix="community-pages-"))
    services = service_settings(tmp)
    name = f"community_pages_{os.getpid()}_{secrets.token_hex(3)}"
    await admin_sql(services, f'CREATE DATABASE "{name}"')
    url = make_url(services.database_url or "").set(database=name)
    settings = replace(
        services,
        database_url=url.render_as_string(hide_password=False),
        redis_prefix=f"bench{secrets.token_hex(3)}:",
    )
    processes: list[subprocess.Popen[bytes]] = []
    try:
        await asyncio.to_thread(migrate, settings)
        (event_id,) = await create_events(settings, 100, 40, 1)
        processes = start_product(settings, args.port, args.workers, tmp)
        base = f"http://127.0.0.1:{args.port}"
        await wait_until_up(base, processes[0], tmp / "server.log")
        async with httpx.AsyncClient(base_url=base) as client:
            counts = await client.get(f"/api/events/{event_id}/counts")
            assert counts.status_code == 200, counts.text
            slug = await _slug(settings, event_id)
            page = await client.get(f"/events/{slug}", headers=BROWSER)
            assert page.status_code == 200, page.status_code
            sent = page.num_bytes_downloaded  # the body as sent, before decompression
            headers = dict(page.headers)
        load = ("127.0.0.1", args.port, BROWSER)
        static_calls = [Call("GET", "/static/vendor/htmx.min.js")] * args.requests
        page_calls = [Call("GET", f"/events/{slug}")] * args.requests
        await closed_loop(*load, static_calls[:500], args.connections)  # warm-up
        await closed_loop(*load, page_calls[:500], args.connections)
        static = await closed_loop(*load, static_calls, args.connections)
        pages = await closed_loop(*load, page_calls, args.connections)
        # The same without compression (a client that does not ask for it).
        plain = ("127.0.0.1", args.port, {"Accept": "text/html"})
        static_plain = await closed_loop(*plain, static_calls, args.connections)
        pages_plain = await closed_loop(*plain, page_calls, args.connections)
        for label, run in (
            ("static file", static),
            ("event page", pages),
            ("static file, uncompressed", static_plain),
            ("event page, uncompressed", pages_plain),
        ):
            if set(run.outcomes) != {"ok"}:
                raise RuntimeError(f"the {label} was not always answered 200: {run.outcomes}")
    finally:
        for process in processes:
            stop_server(process)
        await admin_sql(services, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await forget_redis_keys(settings)
    return {
        "requests": args.requests,
        "connections": args.connections,
        "server": f"community web (granian, {args.workers} workers) + community worker, "
        "LOG_LEVEL=WARNING",
        "load_generator": "bench/http_load.py: python asyncio callbacks, one process, closed loop",
        "cores": os.cpu_count(),
        "load_average_at_start": load_average,
        "page_headers": {
            k: headers.get(k)
            for k in ("cache-control", "etag", "last-modified", "content-encoding", "set-cookie")
        },
        "static": summary(static),
        "page": summary(pages),
        "static_uncompressed": summary(static_plain),
        "page_uncompressed": summary(pages_plain),
        "ratio_vs_static_uncompressed": round(pages_plain.per_second / static_plain.per_second, 3),
        "page_rps": round(pages.per_second, 1),
        "static_rps": round(static.per_second, 1),
        "ratio_vs_static": round(pages.per_second / static.per_second, 3),
        "page_p99_ms": round(pages.percentile(0.99), 1),
        "transfer_kb": round(sent / 1024, 1),
    }


async def _slug(settings: Any, event_id: str) -> str:
    import asyncpg

    from community.db import asyncpg_dsn

    conn = await asyncpg.connect(asyncpg_dsn(settings.database_url or ""))
    try:
        return str(await conn.fetchval("SELECT slug FROM events WHERE id = $1", event_id))
    finally:
        await conn.close()


def report(figures: dict[str, Any]) -> str:
    lines = [
        f"Public pages: {figures['requests']} requests each, {figures['connections']} "
        f"connections; {figures['server']}",
        f"load: {figures['load_generator']}; {figures['cores']} cores "
        f"(load average at start {figures['load_average_at_start']})",
        "",
        f"{'':<28}{'req/s':>8}{'p50':>9}{'p99':>9}  answers",
    ]
    rows = (
        ("static htmx.min.js, gzip", "static"),
        ("event page, gzip", "page"),
        ("static htmx.min.js, plain", "static_uncompressed"),
        ("event page, plain", "page_uncompressed"),
    )
    for label, key in rows:
        run = figures[key]
        lines.append(
            f"{label:<28}{run['rps']:>8.0f}{run['p50_ms']:>7.1f}ms{run['p99_ms']:>7.1f}ms"
            f"  {run['answers']}"
        )
    lines.append(f"event page as sent: {figures['transfer_kb']} KiB; {figures['page_headers']}")
    for key, target in TARGETS.items():
        value = figures[key]
        lines.append(
            f"  {key} = {value} (target >= {target}): {'met' if value >= target else 'MISSED'}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2, help="granian web workers")
    parser.add_argument("--port", type=int, default=8785)
    parser.add_argument("--json", action="store_true", help="end with one JSON line of figures")
    args = parser.parse_args()
    figures = run_served(bench(args))  # the load generator on uvloop too: less of its CPU
    print(report(figures))
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
