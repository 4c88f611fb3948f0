"""Push each listing's limit and state to its platform (docs/inventory.md, "Mirror jobs").

One SAQ job per listing (key ``push:<listing_id>``) reads the target when it runs, pushes it,
and runs again if the target moved meanwhile (services.mirror.coalescing): a burst of changes
becomes a few calls, and the last change is never swallowed by a job that is already running.
Changes caused by native registrations go to the ``urgent`` queue, ahead of everything else.

Failures map to what the organiser or the job can do about them; a failing listing is never
given up on (services.mirror.listing_health): it shows its last error and when it is tried again.
rate limited -> wait the platform's Retry-After (every job on that account is held back);
transient -> the job retries itself with a capped backoff (seat changes meanwhile join it);
auth, not found, rejected -> the error in plain words; the scheduled pass (tasks.pull)
re-drives it after a minute or more, and the organiser's fix or a recount pushes at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from community.models import PLATFORM_LABELS, Event, Listing, SyncState
from community.platforms.base import PlatformClient, PushResult, RemoteListingState
from community.platforms.errors import (
    PlatformAuthError,
    PlatformError,
    PlatformRateLimited,
    PlatformRejected,
    PlatformTransient,
)
from community.services.jobs import (
    RETRY_BASE_S,
    RETRY_MAX_S,
    enqueue_pull,
    enqueue_push,
    listing_ids_of,
)
from community.services.mirror import sync_log
from community.services.mirror.clients import ListingClient, client_for_listing
from community.services.mirror.coalescing import Coalescer, run_coalesced
from community.services.mirror.counts import live_counts
from community.services.mirror.listing_health import retry_delay
from community.services.mirror.plan import ListingPlan, needs_push
from community.services.mirror.platform_accounts import record_error
from community.services.mirror.rate_budget import RateBudget
from community.services.seats.allocation import Allotment, allotment_for, listing_plan, settle
from community.services.seats.refusals import RegistrationError
from community.services.seats.registrations import RegistrationService
from community.tasks.registry import task

log = logging.getLogger("community.mirror")

# Pushes of one listing at most this often during a burst; a lone change is pushed at once.
# Together with a push's own time this keeps every change within a second of the platforms.
MIN_PUSH_INTERVAL_S = 0.4
REPULL_AFTER_REJECT = timedelta(seconds=60)


class RetryLater(Exception):
    """Ask SAQ to run the job again: after ``delay`` seconds, or with backoff when None."""

    def __init__(self, reason: str, delay: float | None = None) -> None:
        super().__init__(reason)
        self.delay = delay


# --- the job -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    listing_id: UUID
    event_id: UUID
    platform: str
    external_id: str
    plan: ListingPlan
    platform_count: int
    shared_left: int
    remote_state: str
    allotment: Allotment
    # The platform's own count as it last reported it: a push never goes below it.
    floor: int = 0


async def read_target(ctx: dict[str, Any], listing_id: UUID) -> Target | None:
    """The listing's target now, or None when it needs no push (or no longer exists).

    In strict mode the listing's share of the shared seats is promised to it here, before the
    push: the promise is what keeps natives and the other listings off those seats.
    None as well while the listing is being pulled: its own count and ours are moving, and
    the pull pushes once it has recorded everyone (tasks.pull).
    """
    pulling = Coalescer(ctx["redis"], ctx["settings"].redis_prefix, "pull")
    if (await pulling.progress(listing_id)).runner_active:
        return None
    async with ctx["session_maker"]() as session:
        listing = await session.get(Listing, listing_id)
        if listing is None:
            return None
        event = await session.get(Event, listing.event_id)
        if event is None:
            return None
        counts = await live_counts(ctx, event)
        inventory = counts.service.inventory if counts.service is not None else None
        allotment = await allotment_for(
            session,
            event,
            listing.platform,
            counts.counts,
            accepting=counts.accepting,
            inventory=inventory,
        )
        plan = listing_plan(
            event, listing.platform, listing.platform_count, allotment, accepting=counts.accepting
        )
        if not _owes(plan, listing, in_step=listing.sync_state == SyncState.IN_STEP):
            return None
        if listing.sync_state != SyncState.ERROR:  # a failing listing shows its error meanwhile
            listing.sync_state = SyncState.PUSHING
            await session.commit()
        return Target(
            listing_id=listing.id,
            event_id=event.id,
            platform=listing.platform,
            external_id=listing.external_id,
            plan=plan,
            platform_count=listing.platform_count,
            shared_left=counts.shared_left,
            remote_state=listing.remote_state,
            allotment=allotment,
            floor=listing.remote_going,
        )


async def _planned(
    ctx: dict[str, Any], session: AsyncSession, listing: Listing
) -> ListingPlan | None:
    """The listing's plan now, previewed (nothing promised); None when its event is gone."""
    event = await session.get(Event, listing.event_id)
    if event is None:
        return None
    counts = await live_counts(ctx, event)
    allotment = await allotment_for(
        session, event, listing.platform, counts.counts, accepting=counts.accepting
    )
    return listing_plan(
        event, listing.platform, listing.platform_count, allotment, accepting=counts.accepting
    )


def _owes(plan: ListingPlan, listing: Listing, *, in_step: bool) -> bool:
    """Whether the listing does not show `plan` yet, by what we last pushed to it."""
    return needs_push(
        plan,
        platform=listing.platform,
        last_pushed_limit=listing.last_pushed_limit,
        remote_state=listing.remote_state,
        in_step=in_step,
    )


async def push_owed(ctx: dict[str, Any], listing_id: UUID) -> bool:
    """Whether the listing does not show its target yet, by what we last pushed to it.

    True when it never got a limit from us, or the limit or state it last got is not the plan
    now, and always for a listing in error: a pull that worked means the platform answers
    again, so the failing listing is re-driven at once instead of at its next retry time. When
    the counts cannot be read, True: the push job reads the target again when it runs and
    skips if nothing is owed.
    """
    try:
        async with ctx["session_maker"]() as session:
            listing = await session.get(Listing, listing_id)
            if listing is None:
                return False
            if listing.sync_state == SyncState.ERROR:
                return True
            plan = await _planned(ctx, session, listing)
            if plan is None:
                return False
    except (RegistrationError, DBAPIError, RedisError, OSError) as exc:
        log.warning(
            "could not tell whether a push is owed",
            extra={"listing_id": str(listing_id), "error": type(exc).__name__},
        )
        return True
    return _owes(plan, listing, in_step=True)


async def clamped_to_sold(client: PlatformClient, target: Target) -> Target | None:
    """The target with its limit raised to what the platform counts as sold now, or None when
    it is not below it. A platform refuses a capacity below its sales (Eventbrite:
    BAD_QUANTITIES); the extra people are pulled in next, which re-plans the limit."""
    going = (await client.get_event(target.external_id)).going_count
    if target.plan.limit >= going:
        return None
    return replace(target, plan=replace(target.plan, limit=going))


async def push_never_below_sold(
    client: PlatformClient, target: Target
) -> tuple[Target, str, PushResult]:
    """Push the target; a limit below what the platform sold is recounted there and clamped.

    Recounted first when it is below what the platform last reported; recounted after the
    platform refused it too, since sales since our last pull are unknown until we ask.
    """
    if target.plan.limit < target.floor:
        target = await clamped_to_sold(client, target) or target
    try:
        action, result = await apply_plan(client, target)
    except PlatformRejected:
        clamped = await clamped_to_sold(client, target)
        if clamped is None:
            raise
        target = clamped
        action, result = await apply_plan(client, target)
    return target, action, result


async def apply_plan(client: PlatformClient, target: Target) -> tuple[str, PushResult]:
    plan, external_id = target.plan, target.external_id
    if plan.is_open and target.remote_state == RemoteListingState.OPEN:
        return "set_limit", await client.set_limit(external_id, plan.limit)
    if plan.is_open:
        result = await client.set_state(
            external_id, RemoteListingState.OPEN, target.platform_count, limit=plan.limit
        )
        return "reopen", result
    result = await client.set_state(
        external_id, RemoteListingState(plan.state), target.platform_count
    )
    return str(plan.state), result


def describe(target: Target, action: str, result: PushResult) -> str:
    label = PLATFORM_LABELS.get(target.platform, target.platform)
    plan = target.plan
    if plan.is_open and target.allotment.strict:
        words = (
            f"Limit {plan.limit}: {target.platform_count} going on {label} + its share of "
            f"{target.allotment.seats} of the {target.allotment.pool} shared seats left."
        )
    elif plan.is_open:
        words = (
            f"Limit {plan.limit}: {target.platform_count} going on {label} + "
            f"{target.shared_left} shared seats left."
        )
    else:
        state = RemoteListingState(result.state).value.replace("_", " ")
        words = f"Switched to {state} at {plan.limit}."
    if plan.note:
        words += " " + plan.note
    return words


def _budget(ctx: dict[str, Any]) -> RateBudget:
    budget = ctx.get("rate_budget")
    if budget is None:
        budget = ctx["rate_budget"] = RateBudget(ctx["redis"], ctx["settings"].redis_prefix)
    return budget


class JobClient:
    """The listing's client, built on first use and reused for every call of one job run.

    Reuse keeps what a client learns (Eventbrite's managed ticket class, Luma's pushed limit)
    and its connection, so the second push of a burst costs one call, not two or three.
    """

    def __init__(self, ctx: dict[str, Any], listing_id: UUID) -> None:
        self._ctx = ctx
        self._listing_id = listing_id
        self._client: ListingClient | None = None

    @property
    def account_key(self) -> str:
        return self._client.account_key if self._client is not None else ""

    async def get(self) -> PlatformClient:
        if self._client is None:
            ctx = self._ctx
            async with ctx["session_maker"]() as session:
                listing = await session.get(Listing, self._listing_id)
                if listing is None:
                    raise LookupError("the listing was deleted")
                self._client = await client_for_listing(
                    ctx["settings"],
                    session,
                    listing,
                    _budget(ctx),
                    session_maker=ctx["session_maker"],
                    transport=ctx.get("platform_transport"),
                )
        return self._client.client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


async def push_once(ctx: dict[str, Any], listing_id: UUID, client: JobClient) -> str:
    """Read the target and push it if the listing does not show it yet. Returns the action."""
    target = await read_target(ctx, listing_id)
    if target is None:
        return "skipped"
    started = time.perf_counter()
    try:
        target, action, result = await push_never_below_sold(await client.get(), target)
    except PlatformError as exc:
        await _failed(ctx, target, exc, _ms_since(started), client.account_key)
        return "failed"
    except LookupError:
        return "skipped"
    await _succeeded(ctx, target, action, result, _ms_since(started))
    return action


def _ms_since(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


async def _succeeded(
    ctx: dict[str, Any], target: Target, action: str, result: PushResult, ms: int
) -> None:
    async with ctx["session_maker"]() as session:
        listing = await session.get(Listing, target.listing_id)
        if listing is None:
            return
        listing.last_pushed_limit = target.plan.limit
        listing.remote_going = result.going_count
        listing.remote_state = RemoteListingState(result.state).value
        listing.sync_state = SyncState.IN_STEP
        listing.last_error = ""
        listing.failing_since = listing.retry_at = None
        listing.last_pushed_at = datetime.now(UTC)
        await sync_log.record(
            session,
            listing=listing,
            platform=target.platform,
            direction="push",
            action=action,
            outcome=sync_log.OK,
            detail=describe(target, action, result),
            duration_ms=ms,
        )
        await session.commit()
    allotment = target.allotment
    if allotment.strict:
        service = RegistrationService.build(ctx["settings"], ctx["redis"], ctx["session_maker"])
        freed = await settle(
            service.inventory,
            target.event_id,
            target.platform,
            allotment,
            beyond=result.going_count - target.platform_count,
        )
        if freed:
            # Seats this listing gave up go to whoever waits for one first (over capacity,
            # then the waitlist), and may be what another listing was waiting for.
            await service.promote_waitlist(target.event_id)
            await enqueue_siblings(ctx, target)
    if result.going_count > target.platform_count:
        # The platform has people we have not pulled yet: fetch them, which re-plans the limit.
        await enqueue_pull(ctx["settings"], ctx["redis"], ctx["queues"], target.listing_id)


async def enqueue_siblings(ctx: dict[str, Any], target: Target) -> None:
    async with ctx["session_maker"]() as session:
        ids = await listing_ids_of(session, target.event_id)
    for listing_id in ids:
        if listing_id != target.listing_id:
            await enqueue_push(ctx["settings"], ctx["redis"], ctx["queues"], listing_id)


async def _failed(
    ctx: dict[str, Any], target: Target, exc: PlatformError, ms: int, account_key: str
) -> None:
    """Record the failure and when the listing is tried again; RetryLater to hold the job.

    Our own budget holding a call back is pacing, not a failure: the listing keeps pushing.
    Anything else puts it in error, with its last error kept until a push succeeds.
    """
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


async def rate_limit_delay(
    ctx: dict[str, Any], platform: str, exc: PlatformRateLimited, account_key: str
) -> float:
    """Seconds until the next attempt; a platform's 429 holds back the whole account.

    The HTTP transport already closed the account when the 429 arrived; this repeats it for a
    rate limit a client raised without one (harmless: the later deadline wins).
    """
    if exc.code != "BUDGET" and account_key:
        await _budget(ctx).block(platform, account_key, exc.retry_after)
    # A little jitter (never earlier), so jobs held back together do not all return at once.
    return exc.retry_after * (1 + random.random() * 0.1) + 0.05


def prepare_retry(ctx: dict[str, Any], delay: float | None) -> None:
    """Tell SAQ how long to wait before the next attempt of this job."""
    job = ctx.get("job")
    if job is None:
        return
    if delay is None:
        job.retry_delay, job.retry_backoff = RETRY_BASE_S, RETRY_MAX_S
    else:
        job.retry_delay, job.retry_backoff = delay, False


@task
async def push_listing(ctx: dict[str, Any], *, listing_id: str) -> dict[str, Any]:
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
        actions = await run_coalesced(coalescer, lid, paced_push)
    except RetryLater as exc:
        prepare_retry(ctx, exc.delay)
        raise
    except Exception:
        prepare_retry(ctx, None)
        raise
    finally:
        await client.aclose()
    if actions is None:
        return {"outcome": "busy"}  # the lease holder will see this change before it lets go
    return {"outcome": "done", "actions": actions}
