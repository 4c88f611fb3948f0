"""Database wiring: the advanced-alchemy config, database creation and migrations."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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
from litestar.exceptions import ServiceUnavailableException
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.pool import QueuePool
from sqlalchemy.util import greenlet_spawn

from community.config import Settings

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = ROOT / "db"


# No ping before each checkout (three round trips on asyncpg: BEGIN, a no-op, ROLLBACK; half
# a millisecond per door scan). A connection that died meanwhile (PostgreSQL restarted) fails
# its next statement instead: SQLAlchemy then drops every connection of that age from the pool,
# and the request gets one 503 (community.outage_errors), which the door page
# treats like an unreachable server. Connections are renewed after POOL_RECYCLE_SECONDS anyway.
POOL_RECYCLE_SECONDS = 30 * 60
# The pool's size, overflow and wait come from settings (DATABASE_POOL_*). Overflow connections
# are closed as soon as they are returned to a full pool, and opening one costs PostgreSQL a new
# backend process: the door's hot path stays within the pool's size (see RESERVED_CONNECTIONS),
# and overflow is for bursts of everything else. A request that waits longer than the pool's
# wait gets a 503 with Retry-After (community.load_shedding), not SQLAlchemy's 30 s and a 500.
APPLICATION_NAME = "community"  # how PostgreSQL lists our connections (pg_stat_activity)
RETRY_AFTER_S = 5  # what a 503 asks the client to wait when a server is out of reach
# The client's own deadline is a little longer than the server's statement_timeout: a live
# server cancels a slow statement itself (the connection stays usable); only a frozen one
# leaves it to the client.
CLIENT_DEADLINE_MARGIN_S = 1.0


def timeout_connect_args(settings: Settings, *, statements: bool = True) -> dict[str, Any]:
    """asyncpg connect arguments bounding how long a connect and a statement may take."""
    timeouts = settings.db_timeouts
    server_settings = {"application_name": APPLICATION_NAME}
    args: dict[str, Any] = {"timeout": timeouts.connect_s, "server_settings": server_settings}
    if statements:
        server_settings["statement_timeout"] = str(int(timeouts.statement_s * 1000))
        args["command_timeout"] = timeouts.statement_s + CLIENT_DEADLINE_MARGIN_S
    return args


def sqlalchemy_config(
    settings: Settings, *, pool_size: int | None = None, statement_timeout: bool = True
) -> SQLAlchemyAsyncConfig:
    """`pool_size`: for tools that need fewer connections than the web app's settings give.
    `statement_timeout=False` for migrations, whose statements may rightly take long."""
    assert settings.database_url, "services must be resolved before the database is configured"
    pools = settings.pools
    return SQLAlchemyAsyncConfig(
        connection_string=settings.database_url,
        engine_config=EngineConfig(
            pool_size=pool_size or pools.db_size,
            max_overflow=pools.db_overflow,
            # SQLAlchemy's pool waits fractions of a second too; advanced-alchemy says int.
            pool_timeout=pools.db_wait_s,  # type: ignore[arg-type]
            pool_pre_ping=False,
            pool_recycle=POOL_RECYCLE_SECONDS,
            connect_args=timeout_connect_args(settings, statements=statement_timeout),
        ),
        session_config=AsyncSessionConfig(expire_on_commit=False),
        before_send_handler="autocommit_include_redirects",
        alembic_config=AlembicAsyncConfig(
            script_location=str(MIGRATIONS),
            script_config=str(MIGRATIONS / "alembic.ini"),
            version_table_name="alembic_version",
        ),
    )


class DatabaseUnavailable(ServiceUnavailableException):
    """The database could not be reached, or a connection to it was lost: answered with 503."""

    def __init__(self) -> None:
        super().__init__(
            detail="The database is unavailable for a moment. Nothing was lost; please try again.",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )


# What asyncpg raises when the connection itself is gone (the server restarted or went away).
DISCONNECTS: tuple[type[BaseException], ...] = (
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
    ConnectionError,
)


# Raised when a connection is being opened and the database is down or starting up (SQLAlchemy
# passes these on as they are), or by SQLAlchemy for a lost connection (a DBAPIError marked
# connection_invalidated): the app answers them with 503 (community.errors).
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    DBAPIError,
    ConnectionRefusedError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)


# Hot paths take at most this many of a pool's connections at once and wait for one beyond:
# past the pool's size it would open overflow connections, only to close them again at once
# (a new PostgreSQL backend each time, which on a busy door cost more than the scans).
# The rest of the pool stays free for everything else.
RESERVED_CONNECTIONS = 4
_HOT_PATH_SLOTS: weakref.WeakKeyDictionary[AsyncEngine, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _slots(engine: AsyncEngine) -> asyncio.Semaphore:
    slots = _HOT_PATH_SLOTS.get(engine)
    if slots is None:
        size = (
            engine.sync_engine.pool.size() if isinstance(engine.sync_engine.pool, QueuePool) else 1
        )
        slots = _HOT_PATH_SLOTS[engine] = asyncio.Semaphore(max(1, size - RESERVED_CONNECTIONS))
    return slots


@asynccontextmanager
async def driver_connection(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection's own asyncpg connection, for the few statements of a hot path.

    They skip SQLAlchemy's session and statement layers, which cost more CPU than PostgreSQL
    spends on them; each statement runs on its own (autocommit), so use it for statements
    that are atomic by themselves. The connection goes back to the pool afterwards. A lost
    connection is not pinged for beforehand (see POOL_RECYCLE_SECONDS): when a statement finds
    it gone, the pool is emptied, as SQLAlchemy does when its own statements find one, and
    the request is answered with a 503.
    """
    async with _slots(engine):
        pooled = await engine.raw_connection()  # lighter than engine.connect(): no Connection
        raw: asyncpg.Connection | None = pooled.driver_connection
        assert raw is not None  # a connection checked out of the pool is open
        try:
            yield raw
        except Exception as exc:
            # A connection found closed when used may also fail with a protocol error first.
            if not isinstance(exc, DISCONNECTS) and not raw.is_closed():
                raise
            await greenlet_spawn(pooled.invalidate, exc)
            await engine.dispose()  # its other connections date from before the loss too
            raise DatabaseUnavailable() from exc
        finally:
            # Back to the pool (which may close it: SQLAlchemy's async code needs a greenlet).
            await greenlet_spawn(pooled.close)


# What PostgreSQL says when it stopped a statement for us (statement_timeout, lock_timeout),
# cannot take it now, or is gone: an outage, not a bug of ours (answered with 503).
REFUSALS: tuple[type[BaseException], ...] = (
    *DISCONNECTS,
    asyncpg.QueryCanceledError,
    asyncpg.LockNotAvailableError,
    asyncpg.TooManyConnectionsError,
)


@asynccontextmanager
async def session_driver(session: AsyncSession) -> AsyncIterator[asyncpg.Connection]:
    """The asyncpg connection under `session`, for the statements of `driver_connection` on a
    handler's own connection.

    The session is committed first: until it is used again, each statement runs on its own
    (autocommit), and a transaction the statements begin is theirs to end. What SQLAlchemy
    would have answered with 503 (a lost connection, a statement stopped by a timeout) is
    answered so here too, the lost connection invalidated as SQLAlchemy does.
    """
    await session.commit()
    connection = await session.connection()
    driver: asyncpg.Connection | None = (await connection.get_raw_connection()).driver_connection
    assert driver is not None  # the session's connection is open
    try:
        yield driver
    except REFUSALS as exc:
        if isinstance(exc, DISCONNECTS) or driver.is_closed():
            await session.invalidate()
        raise DatabaseUnavailable() from exc


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
    config = sqlalchemy_config(settings, pool_size=1, statement_timeout=False)
    AlembicCommands(config).upgrade(revision=revision)


def describe(database_url: str) -> str:
    """Where the database is, without credentials, for logs and messages."""
    parts = urlsplit(database_url.replace("+asyncpg", ""))
    host = parts.hostname or "local socket"
    return f"{parts.path.lstrip('/') or 'postgres'} on {host}"
