"""What the benchmarks share: a database of their own on DATABASE_URL's server (default: the
local one) and a Redis key prefix of their own, both gone when the run ends.

Not a benchmark itself: `make bench` runs only the files whose names do not start with "_".
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from community.config import Settings, load_settings, normalise_database_url
from community.db import asyncpg_dsn, migrate

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


async def admin(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def run_in_scratch_database(
    tag: str, bench: Callable[[Settings], Coroutine[Any, Any, dict[str, Any]]]
) -> dict[str, Any]:
    """Create and migrate a database named after `tag`, run `bench` against it, drop it."""
    server = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    name = f"bench_{tag}_{secrets.token_hex(4)}"
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    admin_dsn = asyncpg_dsn(normalise_database_url(server), "postgres")
    settings = load_settings(
        {
            "DATABASE_URL": url,
            "REDIS_URL": os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL,
            "REDIS_PREFIX": f"bench{secrets.token_hex(4)}:",
            "DATA_DIR": tempfile.mkdtemp(prefix=f"bench-{tag.replace('_', '-')}-"),
            "SECRET_KEY": secrets.token_urlsafe(40),
            "LOG_LEVEL": "WARNING",
        }
    )
    asyncio.run(admin(admin_dsn, f'CREATE DATABASE "{name}"'))
    try:
        migrate(settings)
        return asyncio.run(bench(settings))
    finally:
        asyncio.run(admin(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
