"""The `community` command against the test database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from community.config import Settings
from community.models import User
from community.services.access.passwords import verify_password

ROOT = Path(__file__).resolve().parents[2]


def run_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url or "",
        "REDIS_URL": settings.redis_url or "",
        "DATA_DIR": str(settings.data_dir),
    }
    return subprocess.run(
        [sys.executable, "-m", "community", *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


async def test_migrate_is_idempotent(settings: Settings) -> None:
    result = run_cli(settings, "migrate")
    assert result.returncode == 0, result.stderr
    assert "is up to date" in result.stdout


async def test_createuser_hashes_the_password_with_argon2(
    settings: Settings, db_session: AsyncSession
) -> None:
    result = run_cli(
        settings, "createuser", "--email", "Door.Two@Example.com", "--name", "Door Two",
        "--role", "door", "--password", "a long enough secret",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    user = await db_session.scalar(select(User).where(User.email == "door.two@example.com"))
    assert user is not None and user.role == "door"
    assert user.password_hash.startswith("$argon2")
    assert verify_password(user.password_hash, "a long enough secret")
    assert "a long enough secret" not in result.stdout + result.stderr


async def test_createuser_refuses_a_short_password_with_a_reason(settings: Settings) -> None:
    result = run_cli(
        settings, "createuser", "--email", "x@example.com", "--name", "X", "--password", "short"
    )
    assert result.returncode == 1
    assert "at least 10 characters" in result.stdout


async def test_createuser_without_a_terminal_needs_flags(settings: Settings) -> None:
    result = run_cli(settings, "createuser", "--email", "y@example.com")
    assert result.returncode == 2
    assert "needs --email, --name and --password" in result.stdout


def test_long_lived_processes_run_on_uvloop() -> None:
    """`serve`, `demo` and `worker` run their loop on uvloop (granian picks it for `web`)."""
    import asyncio

    import uvloop

    from community.cli import run_served

    async def loop_kind() -> type:
        return type(asyncio.get_running_loop())

    assert run_served(loop_kind()) is uvloop.Loop


AUTOGROUP = Path("/proc/self/autogroup")


def _yielding(new_session: bool) -> subprocess.Popen[bytes]:
    code = "from community.cli import yield_cpu; yield_cpu(7); print('ok', flush=True); input()"
    return subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        start_new_session=new_session,
    )


@pytest.mark.skipif(not AUTOGROUP.exists(), reason="this kernel has no session autogroups")
@pytest.mark.parametrize("new_session", [True, False])
def test_a_worker_yields_the_cpu_in_a_session_of_its_own_too(new_session: bool) -> None:
    """With session autogroups, nice only ranks processes within one session: a worker that
    leads its own session lowers its session's group too, and never a group it shares."""
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    our_group = AUTOGROUP.read_text()
    process = _yielding(new_session)
    try:
        assert process.stdout is not None and process.stdout.readline() == b"ok\n"
        assert os.getpriority(os.PRIO_PROCESS, process.pid) == min(19, ours + 7)
        group = Path(f"/proc/{process.pid}/autogroup").read_text()
        if new_session:
            # (Ours reads empty when we run in the kernel's root group, as under some CI
            # runners' init: a session's own group still reads "/autogroup-N nice N".)
            assert group.split()[0] != (our_group.split() or [""])[0]
            assert group.split()[-1] == str(min(19, ours + 7))
        else:
            assert group == our_group  # shared with whoever started it: left alone
    finally:
        process.kill()
        process.wait()
    assert AUTOGROUP.read_text() == our_group
