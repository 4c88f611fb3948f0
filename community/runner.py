"""Run the web app and the workers inside one asyncio loop (small installs, the demo)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable

import uvicorn

from community.api_lane import with_api_lane
from community.app import create_app
from community.config import Settings
from community.redis_client import make_redis
from community.worker import held_connections, make_workers


async def serve_all(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Serve until stopped; ``on_ready`` runs once the server listens and the workers started
    (the demo prints its addresses then, after every startup line)."""
    # One Redis client and pool for the process: the web app, its sessions and the workers.
    redis = make_redis(settings, extra_connections=held_connections())
    app = create_app(settings, redis=redis)
    server = uvicorn.Server(
        uvicorn.Config(
            with_api_lane(app),
            host=host or settings.host,
            port=port or settings.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            # The app reads X-Forwarded-For itself, from TRUSTED_PROXIES only
            # (community.forwarded), exactly as under granian.
            proxy_headers=False,
        )
    )
    workers = make_workers(settings, redis=redis)
    for worker in workers:
        # A SAQ worker takes over SIGINT/SIGTERM when it starts; here the web server must get
        # them, and it stops the workers in turn. Without this, Ctrl+C stopped one worker only.
        worker.SIGNALS = []
    worker_tasks = [asyncio.create_task(worker.start()) for worker in workers]
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    try:
        serving = asyncio.create_task(server.serve())
        if on_ready is not None:
            while not server.started and not serving.done():  # noqa: ASYNC110 (uvicorn has no event)
                await asyncio.sleep(0.05)
            if server.started:
                await asyncio.sleep(0.5)  # let the workers' startup lines come out first
                on_ready()
        await serving
    finally:
        await asyncio.gather(*(worker.stop() for worker in workers), return_exceptions=True)
        for task in worker_tasks:
            task.cancel()
        await asyncio.gather(*worker_tasks, return_exceptions=True)
        await redis.aclose()
