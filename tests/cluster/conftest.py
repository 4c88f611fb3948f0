"""A real local Redis Cluster: three masters started from redis-server on free ports, joined
with `redis-cli --cluster create`, torn down after the tests of this folder."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from community.config import Settings
from community.redis_client import make_queue_redis, make_redis

MASTERS = 3


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports(count: int) -> list[int]:
    """Ports free for a node and for its cluster bus (port + 10000)."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port < 55535 and port not in ports and _free(port + 10000):
            ports.append(port)
    return ports


def _wait(condition: object, what: str, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():  # type: ignore[operator]
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the test Redis Cluster did not come up: {what}")


@pytest.fixture(scope="session")
def cluster_nodes() -> Iterator[list[int]]:
    for tool in ("redis-server", "redis-cli"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is needed for the Redis Cluster tests (Debian: redis-server)")
    folder = Path(tempfile.mkdtemp(prefix="community-cluster-"))
    ports = _free_ports(MASTERS)
    servers = []
    try:
        for port in ports:
            node = folder / str(port)
            node.mkdir()
            servers.append(
                subprocess.Popen(
                    [
                        "redis-server",
                        "--port",
                        str(port),
                        "--bind",
                        "127.0.0.1",
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        "2000",
                        "--dir",
                        str(node),
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--logfile",
                        "redis.log",
                    ],
                    cwd=node,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        for port in ports:
            _wait(lambda p=port: SyncRedis(port=p).ping(), f"node {port} answers")
        subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{port}" for port in ports),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        for port in ports:
            _wait(
                lambda p=port: SyncRedis(port=p).cluster("info")["cluster_state"] == "ok",
                f"node {port} sees all slots",
            )
        yield ports
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def cluster_settings(settings: Settings, cluster_nodes: list[int]) -> Settings:
    """The test's settings with REDIS_URL on the cluster; the job queues stay on the single
    server (QUEUE_URL), as the README asks of a cluster install."""
    return replace(
        settings,
        redis_url=f"redis+cluster://127.0.0.1:{cluster_nodes[0]}",
        queue_url=settings.redis_url,
    )


@pytest.fixture
async def cluster(cluster_settings: Settings) -> AsyncIterator[Redis]:
    """A cluster client; the test's keys are removed from every node afterwards."""
    client = make_redis(cluster_settings)
    yield client
    async for key in client.scan_iter(match=f"*{cluster_settings.redis_prefix}*", count=500):
        await client.delete(key)  # the cluster client scans every node
    await client.aclose()


@pytest.fixture
async def queue_redis(cluster_settings: Settings, cluster: Redis) -> AsyncIterator[Redis]:
    """The queues' own client, on QUEUE_URL (the single server)."""
    client = make_queue_redis(cluster_settings, cluster)
    assert client is not cluster
    yield client
    async for key in client.scan_iter(match=f"*{cluster_settings.redis_prefix}*", count=500):
        await client.delete(key)
    await client.aclose()


@pytest.fixture
async def cluster_client(
    cluster_settings: Settings, cluster: Redis, queue_redis: Redis
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    from community.app import create_app

    async with AsyncTestClient(app=create_app(cluster_settings)) as client:
        yield client
