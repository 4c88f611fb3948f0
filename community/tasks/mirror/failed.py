"""A push the platform refused or could not take: recorded, when the listing is tried again,
and how SAQ is told to hold the job (RetryLater, prepare_retry; pulls use them too).

Our own budget holding a call back is pacing, not a failure: the listing keeps pushing.
Anything else puts it in error, with its last error kept until a push succeeds.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from uuid import UUID

from community.models import Listing, SyncState
from community.platforms.errors import (
    PlatformAuthError,
    PlatformError,
    PlatformRateLimited,
    PlatformRejected,
    PlatformTransient,
)
from community.services.jobs import RETRY_BASE_S, RETRY_MAX_S, enqueue_pull
from community.services.mirror import sync_log
from community.services.mirror.coalescing import Coalescer, run_coalesced
from community.services.mirror.listing_health import retry_delay
from community.services.mirror.platform_accounts import record_error
from community.tasks.context import JobContext
from community.tasks.mirror.client import rate_limit_delay
from community.tasks.mirror.target import Target

log = logging.getLogger("community.mirror")
T = TypeVar("T")

REPULL_AFTER_REJECT = timedelta(seconds=60)


class RetryLater(Exception):
    """Ask SAQ to run the job again: after ``delay`` seconds, or with backoff when None."""

    def __init__(self, reason: str, delay: float | None = None) -> None:
        super().__init__(reason)
        self.delay = delay


def prepare_retry(ctx: JobContext, delay: float | None) -> None:
    """Tell SAQ how long to wait before the next attempt of this job."""
    job = ctx.get("job")
    if job is None:
        return
    if delay is None:
        job.retry_delay, job.retry_backoff = RETRY_BASE_S, RETRY_MAX_S
    else:
        job.retry_delay, job.retry_backoff = delay, False


async def run_coalesced_job(
    ctx: JobContext,
    coalescer: Coalescer,
    listing_id: UUID,
    work: Callable[[], Awaitable[T]],
) -> list[T] | None:
    """`run_coalesced` for a push or pull job: when the work fails, SAQ is told when to run
    the job again (RetryLater's delay, else the backoff)."""
    try:
        return await run_coalesced(coalescer, listing_id, work)
    except RetryLater as exc:
        prepare_retry(ctx, exc.delay)
        raise
    except Exception:
        prepare_retry(ctx, None)
        raise


async def failed(
    ctx: JobContext, target: Target, exc: PlatformError, ms: int, account_key: str
) -> None:
    """Record the failure and when the listing is tried again; RetryLater to hold the job."""
    outcome = sync_log.outcome_of(exc)
    retryable = isinstance(exc, PlatformRateLimited | PlatformTransient)
    pacing = isinstance(exc, PlatformRateLimited) and exc.code == "BUDGET"
    asked = 0.0
    if isinstance(exc, PlatformRateLimited):
        asked = await rate_limit_delay(ctx, target.platform, exc, account_key)
    recount = False
    delay = asked
    async with ctx["session_maker"]() as session:
        listing = await session.get(Listing, target.listing_id)
        if listing is not None:
            now = datetime.now(UTC)
            if not pacing:
                listing.failing_since = listing.failing_since or now
                delay = retry_delay(
                    now - listing.failing_since, retryable=retryable, at_least=asked
                )
            listing.retry_at = now + timedelta(seconds=delay)
            # A limit below the platform's own count means people arrived there since our last
            # pull: pull them (which pushes again), at most once a minute.
            pulled = listing.last_pulled_at
            recount = isinstance(exc, PlatformRejected) and (
                pulled is None or now - pulled > REPULL_AFTER_REJECT
            )
            listing.sync_state = SyncState.PUSHING if pacing else SyncState.ERROR
            listing.last_error = "" if pacing else exc.message
            wait = "Trying again" if isinstance(exc, PlatformRateLimited) else "Retrying"
            await sync_log.record(
                session,
                listing=listing,
                platform=target.platform,
                direction="push",
                action="push",
                outcome=outcome,
                detail=f"{exc.message} {wait} in {max(1, round(delay))} s.",
                duration_ms=ms,
            )
        await session.commit()
    if isinstance(exc, PlatformAuthError) and account_key not in ("", "sandbox"):
        async with ctx["session_maker"]() as session:
            await record_error(session, UUID(account_key), exc.message)
            await session.commit()
    if recount:
        await enqueue_pull(ctx["settings"], ctx["redis"], ctx["queues"], target.listing_id)
    log.info(
        "push failed",
        extra={"listing_id": str(target.listing_id), "outcome": outcome, "retry_in_s": delay},
    )
    if retryable:
        raise RetryLater(outcome, delay)
