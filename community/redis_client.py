"""One Redis client per process: a single server, or a Redis Cluster
(REDIS_URL `redis+cluster://host:port`).

The single-server pool is bounded and blocking: when every connection is busy a command waits
up to REDIS_POOL_WAIT for one, then fails with RedisPoolBusy, which the app answers with a 503
and Retry-After (community.load_shedding). redis-py's default pool raised MaxConnectionsError
at once instead, and that became 500s in a rush.

Keys that one script or transaction touches together share a hash tag, so they live in one
cluster slot (every key is built in community.redis_keys). The SAQ job queues keep keys
outside their queue's slot, so with a cluster they run on their own single server
(QUEUE_URL, `make_queue_redis`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, cast

from redis.asyncio import ConnectionPool, Redis, RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from community.config import Settings, is_cluster_url


class RedisPoolBusy(RedisConnectionError):
    """Every pooled Redis connection stayed busy for the configured wait: we are overloaded."""


class _BoundedPool(ConnectionPool):
    """At most `max_connections`; when all are busy a caller waits its turn (first come,
    first served) up to `timeout` seconds, then gets RedisPoolBusy.

    redis-py's BlockingConnectionPool does the same with a condition, a lock and a timer on
    every command, busy or not: that cost a rush's refusal a third of its one Redis call.
    Here a free connection is taken at once; only a full pool waits. A released connection
    goes straight to the first waiter, so no newcomer can overtake one."""

    def __init__(self, *, timeout: float = 2.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.timeout = timeout
        self._waiters: deque[asyncio.Future[AbstractConnection]] = deque()

    async def get_connection(self, *args: Any, **kwargs: Any) -> AbstractConnection:
        full = not self._available_connections and (
            len(self._in_use_connections) >= self.max_connections
        )
        if full or self._waiters:
            connection = await self._wait_for_one()
        else:
            connection = self.get_available_connection()  # type: ignore[no-untyped-call]  # unannotated upstream
        try:
            await self.ensure_connection(connection)
        except BaseException:
            await self.release(connection)
            raise
        return connection

    async def ensure_connection(self, connection: AbstractConnection) -> None:
        """As redis-py's check, without its retry wrapper around connecting a connection that
        is already connected (nearly every time): a refusal's one call paid for it."""
        try:
            if connection.is_connected and not await connection.can_read():
                return
        except (RedisConnectionError, RedisTimeoutError, OSError):
            pass  # redis-py's own check below reconnects it
        await super().ensure_connection(connection)

    async def _wait_for_one(self) -> AbstractConnection:
        waiter: asyncio.Future[AbstractConnection] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self.timeout):
                return await waiter
        except TimeoutError:
            await self._pass_on(waiter)
            raise RedisPoolBusy("No Redis connection became free in time.") from None
        except BaseException:
            await self._pass_on(waiter)
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    async def _pass_on(self, waiter: asyncio.Future[AbstractConnection]) -> None:
        """A connection handed to a caller stopped (timed out, cancelled) at that moment
        goes to the next one."""
        if waiter.done() and not waiter.cancelled():
            await self.release(waiter.result())

    async def release(self, connection: AbstractConnection) -> None:
        if connection.should_reconnect():  # type: ignore[no-untyped-call]  # unannotated upstream
            await connection.disconnect()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)  # still in use: the waiter's now
                return
        self._in_use_connections.discard(connection)
        self._available_connections.append(connection)


# --- the rush's one command ----------------------------------------------------------------

RespArg = bytes | str | int


def resp_bulk(value: RespArg) -> bytes:
    """One argument as RESP puts it on the wire."""
    data = value if isinstance(value, bytes) else str(value).encode()
    return b"$%d\r\n%b\r\n" % (len(data), data)


def resp_command(*args: RespArg) -> bytes:
    return b"*%d\r\n%b" % (len(args), b"".join(resp_bulk(arg) for arg in args))


def packs_commands(redis: Redis) -> bool:
    """Whether `call_packed` can use this client: a single server's bounded pool."""
    return isinstance(getattr(redis, "connection_pool", None), _BoundedPool)


async def call_packed(redis: Redis, command: bytes) -> Any:
    """Send one command already packed as RESP (`resp_command`) on a pooled connection of
    `redis`, and read its reply (an error reply raised, as redis-py raises it).

    The rush's Traffic Cop call. Through `execute_command` a refusal's one call cost more
    CPU than everything else the route does: packing each argument again, a retry wrapper,
    response callbacks, and a task per command for the write's timeout (`wait_for`). Here a
    write into an idle connection's empty buffer is only handed to the socket (it cannot
    block, so it needs no timer); anything else takes redis-py's own way. The read keeps
    the socket timeout. Only a connection found dead before the command left is tried
    again: once sent, a script may have run, and running it twice could take two seats."""
    pool = cast(_BoundedPool, redis.connection_pool)  # as packs_commands(redis) says
    for attempt in (1, 2):
        connection = await pool.get_connection()
        try:
            try:
                await _send(connection, command)
            except (RedisConnectionError, RedisTimeoutError, OSError):
                await connection.disconnect()
                if attempt == 2:
                    raise
                continue
            return await connection.read_response()
        finally:
            await pool.release(connection)
    raise AssertionError("unreachable")  # pragma: no cover


async def _send(connection: AbstractConnection, command: bytes) -> None:
    writer = connection._writer  # pinned by tests/foundation/test_redis_pool.py
    health_due = (
        connection.health_check_interval
        and asyncio.get_running_loop().time() > connection.next_health_check
    )
    if (
        writer is None
        or health_due
        or writer.transport.is_closing()
        or writer.transport.get_write_buffer_size()
    ):
        await connection.send_packed_command(command)
    else:
        writer.write(command)


def make_redis(
    settings: Settings, *, decode_responses: bool = False, extra_connections: int = 0
) -> Redis:
    """The process's client. `extra_connections`: on top of REDIS_POOL_SIZE, for connections
    held for long (SAQ workers block on one per concurrent job while they wait for work)."""
    assert settings.redis_url, "services must be resolved before Redis is used"
    return connect(
        settings,
        settings.redis_url,
        settings.pools.redis_size + extra_connections,
        decode_responses=decode_responses,
    )


def make_queue_redis(settings: Settings, redis: Redis, *, extra_connections: int = 0) -> Redis:
    """The job queues' client: the process's `redis` itself, unless QUEUE_URL names another
    server (as it must when REDIS_URL is a cluster)."""
    if not settings.queue_url or settings.queue_url == settings.redis_url:
        return redis
    return connect(settings, settings.queue_url, settings.pools.redis_size + extra_connections)


def connect(settings: Settings, url: str, max_connections: int, **options: Any) -> Redis:
    options.update(socket_connect_timeout=5, socket_timeout=settings.pools.redis_socket_timeout_s)
    if is_cluster_url(url):
        # A cluster client routes each key to its node and offers the same commands, so
        # callers type it as `Redis`. Its pools (one per node) do not wait: a full one raises
        # MaxConnectionsError, which is shed with a 503 like RedisPoolBusy.
        scheme, rest = url.split("://", 1)
        cluster = RedisCluster.from_url(
            f"{scheme.removesuffix('+cluster')}://{rest}",
            max_connections=max_connections,
            **options,
        )
        return cast(Redis, cluster)
    pool = _BoundedPool.from_url(
        url,
        max_connections=max_connections,
        timeout=settings.pools.redis_wait_s,
        health_check_interval=30,
        # One immediate retry (a pooled connection found dead after a restart), no backoff:
        # while Redis is down or loading, a request gets its 503 at once, not seconds later.
        retry=Retry(NoBackoff(), 1),
        **options,
    )
    return Redis.from_pool(pool)
