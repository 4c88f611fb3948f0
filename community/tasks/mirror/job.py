"""The push job: push a listing's target until it stops moving, holding the listing's lease
(see community.tasks.mirror)."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from uuid import UUID

from community.platforms.errors import PlatformError
from community.services.mirror.coalescing import Coalescer
from community.tasks.context import JobContext
from community.tasks.mirror.apply import push_never_below_sold
from community.tasks.mirror.client import JobClient
from community.tasks.mirror.failed import failed, run_coalesced_job
from community.tasks.mirror.succeeded import succeeded
from community.tasks.mirror.target import read_target
from community.tasks.registry import task

# Pushes of one listing at most this often during a burst; a lone change is pushed at once.
# Together with a push's own time this keeps every change within a second of the platforms.
MIN_PUSH_INTERVAL_S = 0.4


async def push_once(ctx: JobContext, listing_id: UUID, client: JobClient) -> str:
    """Read the target and push it if the listing does not show it yet. Returns the action."""
    target = await read_target(ctx, listing_id)
    if target is None:
        return "skipped"
    started = time.perf_counter()
    try:
        target, action, result = await push_never_below_sold(await client.get(), target)
    except PlatformError as exc:
        await failed(ctx, target, exc, _ms_since(started), client.account_key)
        return "failed"
    except LookupError:
        return "skipped"
    await succeeded(ctx, target, action, result, _ms_since(started))
    return action


def _ms_since(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


@task
async def push_listing(ctx: JobContext, *, listing_id: str) -> dict[str, Any]:
    """Push the listing's target until it stops moving, holding the listing's lease."""
    lid = UUID(listing_id)
    coalescer = Coalescer(ctx["redis"], ctx["settings"].redis_prefix, "push")
    client = JobClient(ctx, lid)
    last_push = 0.0

    async def paced_push() -> str:
        # Within a burst, pushes of one listing are spaced out: each one carries every change
        # that arrived while waiting, and the first change of a quiet spell goes at once.
        nonlocal last_push
        wait = last_push + MIN_PUSH_INTERVAL_S - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        action = await push_once(ctx, lid, client)
        if action not in ("skipped", "failed"):
            last_push = time.monotonic()
        return action

    try:
        actions = await run_coalesced_job(ctx, coalescer, lid, paced_push)
    finally:
        await client.aclose()
    if actions is None:
        return {"outcome": "busy"}  # the lease holder will see this change before it lets go
    return {"outcome": "done", "actions": actions}
