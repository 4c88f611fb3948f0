"""Serve the three stand-ins on loopback inside the current asyncio loop.

    async with run_sandboxes() as running:
        meetup = running["meetup"]
        client = make_client("meetup", meetup.base_url, meetup.credentials["access_token"])

Each stand-in gets its own uvicorn server task on its own port (0 = any free port). The
sockets are bound here, not by uvicorn, so a busy port raises ``OSError`` in the caller
instead of uvicorn exiting the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass

import httpx
import uvicorn

from community.sandbox.common import SandboxPlatform
from community.sandbox.eventbrite import EventbriteSandbox
from community.sandbox.luma import LumaSandbox
from community.sandbox.meetup import MeetupSandbox

STARTUP_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class RunningSandbox:
    platform: str
    base_url: str  # API base, also the OAuth base for Meetup and Eventbrite
    credentials: dict[str, str]
    sandbox: SandboxPlatform


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the host process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def default_sandboxes(
    webhook_transport: httpx.AsyncBaseTransport | None = None,
) -> dict[str, SandboxPlatform]:
    return {
        "meetup": MeetupSandbox(),
        "eventbrite": EventbriteSandbox(webhook_transport=webhook_transport),
        "luma": LumaSandbox(webhook_transport=webhook_transport),
    }


def default_credentials() -> dict[str, dict[str, str]]:
    """What each stand-in accepts unless it was started with other credentials."""
    return {name: sandbox.credentials() for name, sandbox in default_sandboxes().items()}


class SandboxRunner:
    def __init__(
        self,
        sandboxes: Mapping[str, SandboxPlatform] | None = None,
        *,
        host: str = "127.0.0.1",
        ports: Mapping[str, int] | None = None,
    ) -> None:
        self.sandboxes = dict(sandboxes or default_sandboxes())
        self._host = host
        self._ports = dict(ports or {})
        self._servers: list[tuple[_EmbeddedServer, asyncio.Task[None], SandboxPlatform]] = []
        self.running: dict[str, RunningSandbox] = {}

    async def start(self) -> dict[str, RunningSandbox]:
        try:
            for platform, sandbox in self.sandboxes.items():
                self.running[platform] = await self._serve(platform, sandbox)
        except BaseException:
            await self.stop()
            raise
        return self.running

    async def _serve(self, platform: str, sandbox: SandboxPlatform) -> RunningSandbox:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, self._ports.get(platform, 0)))
            sock.listen(128)
        except OSError:
            sock.close()
            raise
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            sandbox.app,
            log_level="warning",
            log_config=None,  # leave the host's logging alone
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        server = _EmbeddedServer(config)
        task = asyncio.create_task(server.serve(sockets=[sock]), name=f"sandbox-{platform}")
        self._servers.append((server, task, sandbox))
        async with asyncio.timeout(STARTUP_TIMEOUT):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError(f"The {platform} stand-in stopped while starting.")
                await asyncio.sleep(0.01)
        base_url = f"http://{self._host}:{port}"
        sandbox.public_url = base_url
        return RunningSandbox(platform, base_url, sandbox.credentials(), sandbox)

    async def stop(self) -> None:
        for server, _, sandbox in self._servers:
            sandbox.faults.release_hangs()
            server.should_exit = True
        for server, task, sandbox in self._servers:
            try:
                await asyncio.wait_for(asyncio.shield(task), STOP_TIMEOUT)
            except TimeoutError:
                server.force_exit = True
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await sandbox.aclose()
        self._servers.clear()
        self.running.clear()

    async def __aenter__(self) -> dict[str, RunningSandbox]:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


@contextlib.asynccontextmanager
async def run_sandboxes(
    sandboxes: Mapping[str, SandboxPlatform] | None = None,
    *,
    host: str = "127.0.0.1",
    ports: Mapping[str, int] | None = None,
) -> AsyncIterator[dict[str, RunningSandbox]]:
    runner = SandboxRunner(sandboxes, host=host, ports=ports)
    try:
        yield await runner.start()
    finally:
        await runner.stop()
