"""`community demo` on a terminal: its addresses and login come last, and stay in view (no job
queue chatter after them)."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from community.config import Settings
from community.db import asyncpg_dsn
from tests.helpers.admin import free_port

pytestmark = pytest.mark.slow


def _sql(dsn: str, statement: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


def test_demo_prints_its_login_last_and_keeps_the_queue_quiet(settings: Settings) -> None:
    # The demo on a database of its own, as on a fresh machine (no other tests' listings).
    name = f"community_demo_{secrets.token_hex(4)}"
    admin = asyncpg_dsn(settings.database_url or "", "postgres")
    _sql(admin, f'CREATE DATABASE "{name}"')
    try:
        _watch_demo(settings, make_url(settings.database_url or "").set(database=name))
    finally:
        _sql(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _watch_demo(settings: Settings, database_url: object) -> None:
    port = free_port()
    url = database_url.render_as_string(hide_password=False)  # type: ignore[attr-defined]
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": settings.redis_url or "",
        "REDIS_PREFIX": settings.redis_prefix,
        "DATA_DIR": str(settings.data_dir),
        "SECRET_KEY": settings.secret_key,
        "LOG_LEVEL": "INFO",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "community", "demo", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        deadline = time.monotonic() + 90
        banner_at = None
        while time.monotonic() < deadline:
            chunk = proc.stdout.readline()
            if chunk:
                lines.append(chunk.rstrip("\n"))
                if "Press Ctrl+C to stop." in chunk and banner_at is None:
                    banner_at = time.monotonic()
            else:
                time.sleep(0.1)
            # Watch the terminal for 20 s after the banner: the jobs run meanwhile.
            if banner_at is not None and time.monotonic() - banner_at > 20:
                break
        assert banner_at is not None, "\n".join(lines[-30:])
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    text = "\n".join(lines)
    end = max(i for i, line in enumerate(lines) if "Press Ctrl+C to stop." in line)
    start = max(i for i, line in enumerate(lines[:end]) if "demo is running" in line)
    assert "Sign in as" in "\n".join(lines[start:end])
    after = [line for line in lines[end + 1 :] if line.strip()]
    # Nothing from the job queue at INFO, before or after the banner.
    assert not [line for line in lines if '"logger": "saq' in line and '"level": "info"' in line]
    assert len(after) <= 3, after  # the login stays on screen
    assert text.count("Sign in as") == 1
