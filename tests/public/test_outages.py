"""Redis down or loading, PostgreSQL stuck: the designed 503 with Retry-After, quickly.

Redis here is the test's own redis-server (killed and restarted at will); PostgreSQL is the
run's database, made to wait by a lock another connection holds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from community.config import DatabaseTimeouts, Settings
from community.db import asyncpg_dsn
from community.models import User
from tests.helpers.outage_servers import OwnRedis, redis_7
from tests.helpers.public import MakeEvent
from tests.helpers.web import login


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def outage_client(
    base_settings: Settings, own_redis: OwnRedis
) -> AsyncIterator[tuple[AsyncTestClient[Litestar], Settings]]:
    from community.app import create_app

    settings = replace(
        base_settings,
        redis_url=own_redis.url,
        db_timeouts=DatabaseTimeouts(statement_s=1, connect_s=1),
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client, settings


def assert_designed_503(response: Any) -> None:
    assert response.status_code == 503, (response.status_code, response.text[:300])
    assert int(response.headers["retry-after"]) > 0
    assert "Traceback" not in response.text and "try again" in response.text


def assert_served_or_designed_503(responses: list[Any]) -> None:
    """Pages that need no Redis (anonymous visitors have no session) may still be served;
    everything else is the designed 503, never a 500."""
    for response in responses:
        if response.status_code != 503:
            assert response.status_code in (200, 302, 303), response.status_code
        else:
            assert_designed_503(response)


async def every_kind_of_request(client: AsyncTestClient[Litestar], event: Any) -> list[Any]:
    """Public pages, the signed-in admin and door, the JSON API: all at once."""
    return list(
        await asyncio.gather(
            client.get(f"/events/{event.slug}"),
            client.get("/login"),
            client.get("/my-tickets"),
            client.get("/admin", follow_redirects=False),
            client.get("/door", follow_redirects=False),
            client.get(f"/api/events/{event.id}/counts", headers={"accept": "application/json"}),
            client.post(
                f"/api/events/{event.id}/registrations",
                json={"name": "Ada", "email": "outage@example.com"},
            ),
        )
    )


def assert_outage_answers(answers: list[Any]) -> None:
    assert_served_or_designed_503(answers)
    admin, door, counts, registration = answers[3:]
    for needs_redis in (admin, door, counts, registration):  # sessions, seats
        assert_designed_503(needs_redis)
    assert registration.headers["content-type"].startswith("application/json")


async def test_redis_down_gives_503_with_retry_after_everywhere(
    outage_client: tuple[AsyncTestClient[Litestar], Settings],
    own_redis: OwnRedis,
    make_event: MakeEvent,
    owner: User,
) -> None:
    client, _ = outage_client
    event = await make_event()
    assert (await client.get(f"/events/{event.slug}")).status_code == 200
    await login(client, owner)  # a signed-in session lives in Redis
    own_redis.kill()
    assert_outage_answers(await every_kind_of_request(client, event))
    assert (await client.get("/healthz")).status_code == 503

    own_redis.start()  # back: the pages answer again, without a restart of the app
    assert (await client.get(f"/events/{event.slug}")).status_code == 200


async def test_redis_loading_its_data_gives_503_with_retry_after(
    base_settings: Settings, tmp_path: Path, make_event: MakeEvent, owner: User
) -> None:
    from community.app import create_app

    executable = redis_7()
    if executable is None:
        pytest.skip("needs redis-server 7 or later (Debian package redis-server)")
    server = OwnRedis(tmp_path / "loading", executable)
    server.start()
    settings = replace(base_settings, redis_url=server.url)
    event = await make_event()
    try:
        filler = Redis.from_url(server.url)
        async with filler.pipeline(transaction=False) as pipe:
            for i in range(20_000):
                pipe.set(f"filler:{i}", "x" * 1000)
            await pipe.execute()
        await filler.save()
        await filler.aclose()
        async with AsyncTestClient(app=create_app(settings)) as client:
            assert (await client.get(f"/events/{event.slug}")).status_code == 200
            await login(client, owner)
            server.kill()
            # Loading 20,000 keys 500 µs apart takes about 10 s, answering LOADING meanwhile.
            server.start(
                "--dbfilename", "dump.rdb",
                "--key-load-delay", "500",
                "--loading-process-events-interval-bytes", "1024",
                wait=False,
            )  # fmt: skip
            assert server.wait_for(b"-LOADING")
            started = time.monotonic()
            assert_outage_answers(await every_kind_of_request(client, event))
            assert time.monotonic() - started < 3
            assert server.answer().startswith(b"-LOADING"), "loading ended before the requests"
    finally:
        server.stop()


@pytest.fixture
async def locked_events(base_settings: Settings) -> AsyncIterator[Any]:
    """Another connection holds a lock on the events table, so every read of it waits."""
    assert base_settings.database_url
    holder = await asyncpg.connect(asyncpg_dsn(base_settings.database_url))
    transaction = holder.transaction()

    async def lock() -> None:
        await transaction.start()
        await holder.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")

    async def release_later() -> None:
        await asyncio.sleep(8)  # bounded even when the app under test waits it out
        if not holder.is_closed():
            await transaction.rollback()

    release = asyncio.create_task(release_later())
    yield lock
    release.cancel()
    if not holder.is_closed():
        await holder.close()


async def test_a_stuck_database_gives_a_fast_503(
    outage_client: tuple[AsyncTestClient[Litestar], Settings],
    make_event: MakeEvent,
    locked_events: Any,
) -> None:
    client, _ = outage_client
    event = await make_event()
    assert (await client.get(f"/events/{event.slug}")).status_code == 200
    await locked_events()
    # (The test client runs one request at a time: each is timed on its own.)
    for path in (f"/events/{event.slug}", f"/api/events/{event.id}/counts", "/my-tickets"):
        started = time.monotonic()
        response = await client.get(path, headers={"accept": "application/json"})
        elapsed = time.monotonic() - started
        if path != "/my-tickets":  # this one reads no event: it need not wait at all
            assert_designed_503(response)
        # The statement timeout is 1 s here: nothing waits for the lock to go (8 s).
        assert elapsed < 2.5, (path, elapsed)
