"""Database wiring: the advanced-alchemy config, database creation and migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import asyncpg
from advanced_alchemy.extensions.litestar import (
    AlembicAsyncConfig,
    AlembicCommands,
    AsyncSessionConfig,
    EngineConfig,
    SQLAlchemyAsyncConfig,
)
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = ROOT / "db"


def sqlalchemy_config(settings: Settings, *, pool_size: int = 10) -> SQLAlchemyAsyncConfig:
    assert settings.database_url, "services must be resolved before the database is configured"
    return SQLAlchemyAsyncConfig(
        connection_string=settings.database_url,
        engine_config=EngineConfig(pool_size=pool_size, max_overflow=20, pool_pre_ping=True),
        session_config=AsyncSessionConfig(expire_on_commit=False),
        before_send_handler="autocommit_include_redirects",
        alembic_config=AlembicAsyncConfig(
            script_location=str(MIGRATIONS),
            script_config=str(MIGRATIONS / "alembic.ini"),
            version_table_name="alembic_version",
        ),
    )


def app_session_maker(app: Any) -> async_sessionmaker[AsyncSession]:
    """The app's session maker, for code outside a handler's dependency injection (guards)."""
    config: SQLAlchemyAsyncConfig = app.state["db_config"]
    return cast("async_sessionmaker[AsyncSession]", config.create_session_maker())


def asyncpg_dsn(database_url: str, database: str | None = None) -> str:
    """The same server as a plain asyncpg DSN (socket paths kept), optionally another database."""
    url = make_url(database_url).set(drivername="postgresql")
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


async def ensure_database(database_url: str) -> None:
    """Create the configured database when the server does not have it yet."""
    name = make_url(database_url).database or "postgres"
    conn = await asyncpg.connect(asyncpg_dsn(database_url, "postgres"))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def migrate(settings: Settings, revision: str = "head") -> None:
    """Apply migrations up to `revision` (Alembic runs its own event loop)."""
    AlembicCommands(sqlalchemy_config(settings, pool_size=1)).upgrade(revision=revision)


def describe(database_url: str) -> str:
    """Where the database is, without credentials, for logs and messages."""
    parts = urlsplit(database_url.replace("+asyncpg", ""))
    host = parts.hostname or "local socket"
    return f"{parts.path.lstrip('/') or 'postgres'} on {host}"
