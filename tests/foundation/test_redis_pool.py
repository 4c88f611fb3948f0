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


# --- call_packed: the rush's one command -----------------------------------------------------


async def test_a_packed_command_answers_as_redis_py_does(settings: Settings) -> None:
    from redis.exceptions import NoScriptError, ResponseError

    from community.redis_client import call_packed, packs_commands, resp_command

    client = _client(settings, size=2, wait_s=1)
    key = f"{settings.redis_prefix}packed:{id(client)}"
    try:
        assert packs_commands(client)
        assert await call_packed(client, resp_command("SET", key, "é 1", "EX", 60)) == b"OK"
        assert await call_packed(client, resp_command(b"GET", key)) == "é 1".encode()
        script = "return {KEYS[1], ARGV[1], tonumber(ARGV[2]) + 1}"
        sha = await client.script_load(script)
        reply = await call_packed(client, resp_command("EVALSHA", sha, 1, key, b"x", 41))
        assert reply == await client.evalsha(sha, 1, key, b"x", 41) == [key.encode(), b"x", 42]
        with pytest.raises(NoScriptError):
            await call_packed(client, resp_command("EVALSHA", "0" * 40, 0))
        with pytest.raises(ResponseError):
            await call_packed(client, resp_command("INCR", key))
        # The connection is back in the pool after each answer, errors included.
        assert not client.connection_pool._in_use_connections
    finally:
        await client.delete(key)
        await client.aclose()


async def test_a_connection_found_dead_is_replaced_before_the_command_leaves(
    settings: Settings,
) -> None:
    from community.redis_client import call_packed, resp_command

    client = _client(settings, size=1, wait_s=1)
    try:
        assert await client.ping()
        (connection,) = client.connection_pool._available_connections
        # The fast path writes straight into the connection's stream (a private attribute
        # of redis-py's connection, pinned here: if an upgrade renames it, this fails).
        assert connection._writer is not None
        own_id = await client.client_id()
        killer = _client(settings, size=1, wait_s=1)
        try:
            assert await killer.client_kill_filter(_id=own_id) == 1
        finally:
            await killer.aclose()
        await asyncio.sleep(0.05)
        assert await call_packed(client, resp_command("PING")) == b"PONG"
    finally:
        await client.aclose()


async def test_a_sent_command_whose_answer_times_out_is_not_sent_again(settings: Settings) -> None:
    """Once sent, a script may have run: running it again could take a second seat."""
    from redis.exceptions import TimeoutError as RedisTimeoutError

    from community.redis_client import call_packed, resp_command

    pools = replace(settings.pools, redis_size=1, redis_wait_s=1, redis_socket_timeout_s=0.2)
    client = make_redis(replace(settings, pools=pools))
    key = f"{settings.redis_prefix}counted:{id(client)}"
    slow = "redis.call('INCR', KEYS[1]); local t = redis.call('TIME'); " + (
        "while true do local n = redis.call('TIME'); "
        "if (n[1] - t[1]) * 1000000 + n[2] - t[2] > 400000 then break end end; return 1"
    )
    try:
        with pytest.raises(RedisTimeoutError):
            await call_packed(client, resp_command("EVAL", slow, 1, key))
        await asyncio.sleep(0.5)
        assert await client.get(key) == b"1"
    finally:
        await client.delete(key)
        await client.aclose()
