"""Shared fixtures: a fresh database per run, a Redis key prefix per test, an app per test.

With DATABASE_URL / REDIS_URL set, tests use those servers (a new database is created on the
PostgreSQL server for the run and dropped after). Without them, the embedded servers start
under a temporary folder, exactly as the product does on a fresh machine.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from community.config import Settings, load_settings
from community.db import asyncpg_dsn, migrate
from community.models import Role, User
from tests.helpers.web import (
    login,
    make_user,
)


def _server_settings(tmp: Path) -> Settings:
    env = {k: v for k, v in os.environ.items() if k in ("DATABASE_URL", "REDIS_URL")}
    env.update(DATA_DIR=str(tmp), SECRET_KEY="test-secret-" + "x" * 40, LOG_LEVEL="WARNING")
    # Tests are many different people who happen to share a few addresses (ada@example.com):
    # the per-address hourly mail quota would hold back one test's mail for another's. The
    # quota's own tests set it.
    env.update(MAIL_RECIPIENT_HOURLY_QUOTA="10000")
    settings = load_settings(env)
    if settings.embedded:
        from community.app import resolve_services

        settings = resolve_services(settings)
    return settings


@pytest.fixture(scope="session")
def base_settings() -> Iterator[Settings]:
    """Settings pointing at a database created for this run only."""
    tmp = Path(tempfile.mkdtemp(prefix="community-test-"))
    server = _server_settings(tmp)
    assert server.database_url
    name = f"community_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin_dsn = asyncpg_dsn(server.database_url, "postgres")

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    url = make_url(server.database_url).set(database=name).render_as_string(hide_password=False)
    settings = replace(server, database_url=url, redis_prefix=f"t{secrets.token_hex(4)}:")
    migrate(settings)
    yield settings
    asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def settings(base_settings: Settings) -> Settings:
    """Each test gets its own Redis key prefix, so tests never see each other's keys."""
    return replace(base_settings, redis_prefix=f"t{secrets.token_hex(6)}:")


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis_url or "")
    yield client
    async for key in client.scan_iter(match=f"*{settings.redis_prefix}*", count=500):
        await client.delete(key)
    await client.aclose()


@pytest.fixture(scope="session")
async def engine(base_settings: Settings) -> AsyncIterator[Any]:
    engine = create_async_engine(base_settings.database_url or "", pool_size=10, max_overflow=20)
    yield engine
    await engine.dispose()


@pytest.fixture
def session_maker(engine: Any) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@pytest.fixture
async def db_session(
    session_maker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    async with session_maker() as session:
        yield session


@pytest.fixture
def app(settings: Settings, redis: Redis) -> Litestar:
    from community.app import create_app

    return create_app(settings)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


@pytest.fixture
async def owner(db_session: AsyncSession) -> User:
    return await make_user(db_session, Role.OWNER)


@pytest.fixture
async def organiser(db_session: AsyncSession) -> User:
    return await make_user(db_session, Role.ORGANISER)


@pytest.fixture
async def door_user(db_session: AsyncSession) -> User:
    return await make_user(db_session, Role.DOOR)


@pytest.fixture
async def owner_client(client: AsyncTestClient[Litestar], owner: User) -> AsyncTestClient[Litestar]:
    await login(client, owner)
    return client


@pytest.fixture
async def organiser_client(
    client: AsyncTestClient[Litestar], organiser: User
) -> AsyncTestClient[Litestar]:
    await login(client, organiser)
    return client


@pytest.fixture
async def door_client(
    client: AsyncTestClient[Litestar], door_user: User
) -> AsyncTestClient[Litestar]:
    await login(client, door_user)
    return client


# --- Content-Security-Policy in the browser tests --------------------------------------------

CSP_VIOLATIONS: list[str] = []
# Injected by the browser driver, so the policy does not apply to it; it turns each
# violation into a console line the watcher below collects.
_CSP_LISTENER = """document.addEventListener("securitypolicyviolation", (e) =>
    console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}`))"""


async def watch_csp(page: Any) -> None:
    """Record every Content-Security-Policy violation on `page` (call before navigating);
    the autouse fixture below fails the test if there was any."""
    await page.add_init_script(_CSP_LISTENER)

    def seen(message: Any) -> None:
        text = message.text
        if "CSP violation" in text or "Content Security Policy" in text:
            CSP_VIOLATIONS.append(f"{page.url}: {text}")

    page.on("console", seen)


@pytest.fixture(autouse=True)
def no_csp_violations() -> Iterator[None]:
    CSP_VIOLATIONS.clear()
    yield
    found, CSP_VIOLATIONS[:] = list(CSP_VIOLATIONS), []
    assert not found, found
