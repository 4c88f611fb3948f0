"""The process's bounded Redis pool: a free connection at once, a full pool waits its turn in
order, a wait that runs out is RedisPoolBusy, and no connection is lost on the way."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from redis.asyncio import Redis

from community.config import Settings
from community.redis_client import RedisPoolBusy, make_redis


def _client(settings: Settings, size: int, wait_s: float) -> Redis:
    pools = replace(settings.pools, redis_size=size, redis_wait_s=wait_s)
    return make_redis(replace(settings, pools=pools))


async def test_a_full_pool_serves_waiters_first_come_first_served(settings: Settings) -> None:
    client = _client(settings, size=2, wait_s=5)
    pool = client.connection_pool
    try:
        held = [await pool.get_connection() for _ in range(2)]
        order: list[int] = []

        async def wait(n: int) -> None:
            connection = await pool.get_connection()
            order.append(n)
            await asyncio.sleep(0)
            await pool.release(connection)

        waiting = [asyncio.create_task(wait(n)) for n in range(5)]
        await asyncio.sleep(0.05)
        assert order == []  # nothing free: all five wait
        for connection in held:
            await pool.release(connection)
        await asyncio.gather(*waiting)
        assert order == [0, 1, 2, 3, 4]
        # Never more than two, and all of them back.
        assert len(pool._available_connections) == 2 and not pool._in_use_connections
        assert await client.ping()
    finally:
        await client.aclose()


async def test_a_wait_that_runs_out_is_busy_and_loses_nothing(settings: Settings) -> None:
    client = _client(settings, size=1, wait_s=0.05)
    pool = client.connection_pool
    try:
        held = await pool.get_connection()
        with pytest.raises(RedisPoolBusy):
            await client.ping()
        # A caller cancelled while waiting leaves no trace either.
        cancelled = asyncio.create_task(pool.get_connection())
        await asyncio.sleep(0.01)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert not pool._waiters
        await pool.release(held)
        assert await client.ping()
        assert len(pool._available_connections) == 1 and not pool._in_use_connections
    finally:
        await client.aclose()


async def test_a_connection_handed_to_a_caller_cancelled_that_moment_goes_on(
    settings: Settings,
) -> None:
    client = _client(settings, size=1, wait_s=5)
    pool = client.connection_pool
    try:
        held = await pool.get_connection()
        first = asyncio.create_task(pool.get_connection())
        second = asyncio.create_task(pool.get_connection())
        await asyncio.sleep(0.01)
        await pool.release(held)  # handed to the first waiter...
        first.cancel()  # ...which is stopped before it runs
        with pytest.raises(asyncio.CancelledError):
            await first
        connection = await asyncio.wait_for(second, 1)  # the second one gets it
        await pool.release(connection)
        assert len(pool._available_connections) == 1 and not pool._in_use_connections
    finally:
        await client.aclose()
