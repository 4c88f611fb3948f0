"""Pass a door check-in back to the platform the attendee registered on, where it can be.

What the platforms allow (see platforms.md, "Check-in" of each): none of them has an API
to mark someone as checked in. Meetup's attendance (ATTENDED / NO_SHOW) is set in its own
UI only; Eventbrite's attendee `checked_in` and barcode status are read-only; Luma's
`checked_in_at` is read-only (hosts with check-in access use Luma's app). So each client's
`mark_checkin` raises NotSupported, and this job records that outcome in the sync log, where
the organiser sees it next to the pushes and pulls. Should a platform add such an endpoint,
only its client changes.

A busy door checks in hundreds of platform guests a minute, and queueing a job costs the web
process a Redis round trip and a few hundred microseconds each: the door API hands its
check-ins to a `PassbackGatherer`, which queues one `pass_checkins_back` job for all those of
the last half second. A registration whose hand-back fails there is queued again on its own
(`pass_checkin_back`, with retries).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from redis.exceptions import RedisError
from saq import Queue
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from community.models import PLATFORM_LABELS, Channel, Listing, Registration
from community.platforms.errors import PlatformError
from community.services.mirror import sync_log
from community.services.mirror.clients import client_for_listing
from community.services.mirror.rate_budget import RateBudget
from community.tasks.registry import task

ACTION = "mark_checkin"
GATHER_SECONDS = 0.5
BATCH_SIZE = 100  # registrations per batch job

log = logging.getLogger("community.passback")


def passback_job_key(registration_id: UUID | str) -> str:
    return f"checkin-passback:{registration_id}"


async def enqueue_passback(queues: dict[str, Queue], registration_ids: Iterable[UUID]) -> None:
    """One job per registration; a repeat while one is waiting collapses into it."""
    for registration_id in registration_ids:
        await queues["default"].enqueue(
            "pass_checkin_back",
            key=passback_job_key(registration_id),
            registration_id=str(registration_id),
            timeout=60,
            retries=3,
        )


async def enqueue_passback_batch(queues: dict[str, Queue], registration_ids: list[str]) -> None:
    for start in range(0, len(registration_ids), BATCH_SIZE):
        await queues["default"].enqueue(
            "pass_checkins_back",
            registration_ids=registration_ids[start : start + BATCH_SIZE],
            timeout=600,
        )


class PassbackGatherer:
    """Gathers the web process's new platform check-ins; queues them every GATHER_SECONDS.

    One per application (its lifespan closes it, which queues what is still waiting). What
    waits here when the process is killed is lost, as a job that could not be queued is (the
    check-ins themselves are committed; only the courtesy hand-back is lost).
    """

    def __init__(self, queues: dict[str, Queue], *, seconds: float = GATHER_SECONDS) -> None:
        self._queues = queues
        self._seconds = seconds
        self._waiting: dict[str, None] = {}  # ordered, and a repeat is one hand-back
        self._flusher: asyncio.Task[None] | None = None

    def add(self, registration_ids: Iterable[UUID]) -> None:
        for registration_id in registration_ids:
            self._waiting[str(registration_id)] = None
        if self._waiting and self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self._seconds)
        self._flusher = None
        await self.flush()

    async def flush(self) -> None:
        ids, self._waiting = list(self._waiting), {}
        if not ids:
            return
        try:
            await enqueue_passback_batch(self._queues, ids)
        except RedisError as exc:
            log.warning(
                "check-in passback not queued",
                extra={"count": len(ids), "error": type(exc).__name__},
            )

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        await self.flush()


@task
async def pass_checkins_back(ctx: dict[str, Any], *, registration_ids: list[str]) -> dict[str, int]:
    """`pass_checkin_back` for each; one that fails is queued again on its own, with retries."""
    outcomes: Counter[str] = Counter()
    failed = []
    for registration_id in registration_ids:
        try:
            outcomes[await pass_checkin_back(ctx, registration_id=registration_id)] += 1
        except Exception as exc:
            log.warning("check-in passback failed", extra={"error": type(exc).__name__})
            failed.append(registration_id)
    if failed:
        await enqueue_passback(ctx["queues"], failed)
    return dict(outcomes)


async def _listing_of(session: AsyncSession, registration: Registration) -> Listing | None:
    if registration.listing_id is not None:
        return await session.get(Listing, registration.listing_id)
    return await session.scalar(
        select(Listing).where(
            Listing.event_id == registration.event_id, Listing.platform == registration.channel
        )
    )


@task
async def pass_checkin_back(ctx: dict[str, Any], *, registration_id: str) -> str:
    """Tell the registration's platform about its check-in; returns the recorded outcome."""
    settings = ctx["settings"]
    async with ctx["session_maker"]() as session:
        registration = await session.get(Registration, UUID(registration_id))
        if (
            registration is None
            or registration.channel == Channel.NATIVE
            or registration.checked_in_at is None
        ):
            return sync_log.SKIPPED  # gone, native, or undone before the job ran
        platform = registration.channel
        label = PLATFORM_LABELS.get(platform, platform)
        listing = await _listing_of(session, registration)
        if listing is None or not registration.external_id:
            await sync_log.record(
                session,
                platform=platform,
                direction="checkin",
                action=ACTION,
                outcome=sync_log.SKIPPED,
                detail=f"No {label} listing or attendee id to pass the check-in to.",
                event_id=registration.event_id,
            )
            await session.commit()
            return sync_log.SKIPPED
        budget = ctx.get("rate_budget") or RateBudget(ctx["redis"], settings.redis_prefix)
        outcome, detail = sync_log.OK, f"Checked in on {label}."
        with sync_log.stopwatch() as watch:
            try:
                client = await client_for_listing(settings, session, listing, budget)
                try:
                    await client.client.mark_checkin(listing.external_id, registration.external_id)
                finally:
                    await client.aclose()
            except PlatformError as exc:
                outcome, detail = sync_log.outcome_of(exc), sync_log.detail_of(exc)
        await sync_log.record(
            session,
            platform=platform,
            direction="checkin",
            action=ACTION,
            outcome=outcome,
            detail=detail,
            duration_ms=watch.ms,
            listing=listing,
        )
        await session.commit()
        return outcome
