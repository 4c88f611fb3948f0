"""`community demo` on a terminal: its addresses and login come last, and stay in view (no job
queue chatter after them)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from community.config import Settings
from tests.admin.conftest import free_port

pytestmark = pytest.mark.slow


def test_demo_prints_its_login_last_and_keeps_the_queue_quiet(settings: Settings) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url or "",
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
