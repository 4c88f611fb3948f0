"""Pull registrations from each listing into the ledger: on a schedule, and on demand.

One SAQ job per listing (key ``pull:<listing_id>``, coalesced like pushes, so a webhook that
arrives mid-pull causes one more pass instead of being lost). A pull is incremental where the
platform allows it (Meetup, Eventbrite: changed since the last pull, with an overlap) and whole
otherwise (Luma), with a whole pull every hour to catch anything an increment missed.

While a listing is being pulled its pushes wait (tasks.mirror reads the pull lease): the limit
``k_p + shared_left`` needs the platform's count and our count of the same moment, and both
move while the pulled people are recorded one by one. The pull pushes once at the end: when
it changed something, and also when the listing does not show its target (a push skipped
while the pull ran, or a newly linked listing that never got its first limit).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import func, or_, select

from community import redis_keys
from community.config import Settings
from community.models import Event, EventStatus, Listing, Platform, SyncState
from community.platforms.errors import (
    PlatformError,
    PlatformRateLimited,
    PlatformTransient,
)
from community.services.jobs import enqueue_pull, enqueue_push, pull_coalescer
from community.services.mirror import sync_log
from community.services.mirror.coalescing import Coalescer
from community.services.mirror.poll_schedule import HOT_FOR, facts_of, mark_selling, next_pull_at
from community.services.mirror.pulled_registrations import PullTally, ingest
from community.services.seats.allocation import settle_after_pull
from community.services.seats.registrations import RegistrationService
from community.tasks.context import JobContext
from community.tasks.mirror.client import JobClient, rate_limit_delay
from community.tasks.mirror.failed import RetryLater, run_coalesced_job
from community.tasks.mirror.target import push_owed
from community.tasks.registry import cron, task

log = logging.getLogger("community.pull")

# Re-read this much before the last pull's start: platforms' clocks and indexes lag a little.
OVERLAP = timedelta(minutes=5)
FULL_PULL_EVERY = timedelta(hours=1)
MAX_PAGES = 500
# Pull listings of events from this long before they start until this long after they end.
PULL_AFTER_END = timedelta(days=2)


# --- the cursor ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PullCursor:
    """Stored in Listing.pull_cursor: where the increments start, and the last whole pull."""

    since: datetime | None = None
    full_at: datetime | None = None

    @classmethod
    def parse(cls, raw: str) -> PullCursor:
        try:
            data = json.loads(raw) if raw else {}
            return cls(
                since=datetime.fromisoformat(data["since"]) if data.get("since") else None,
                full_at=datetime.fromisoformat(data["full_at"]) if data.get("full_at") else None,
            )
        except (ValueError, TypeError, KeyError):
            return cls()  # unreadable: start over with a whole pull

    def dump(self) -> str:
        return json.dumps(
            {
                "since": self.since.isoformat() if self.since else None,
                "full_at": self.full_at.isoformat() if self.full_at else None,
            }
        )

    def whole_pull_due(self, now: datetime) -> bool:
        return self.since is None or self.full_at is None or now - self.full_at >= FULL_PULL_EVERY


# --- the job -------------------------------------------------------------------------------


@dataclass
class PullOutcome:
    tally: PullTally
    count_changed: bool

    @property
    def changed(self) -> bool:
        return self.tally.changed or self.count_changed


async def pull_once(
    ctx: JobContext, listing_id: UUID, client: JobClient, *, full: bool
) -> PullOutcome | None:
    session_maker = ctx["session_maker"]
    async with session_maker() as session:
        listing = await session.get(Listing, listing_id)
        if listing is None:
            return None
        event_id, platform, external_id = listing.event_id, listing.platform, listing.external_id
        before_count = listing.platform_count
        cursor = PullCursor.parse(listing.pull_cursor)
    started_at = datetime.now(UTC)
    whole = full or cursor.whole_pull_due(started_at) or platform == Platform.LUMA
    # A cursor without `since` is always due a whole pull; the second test only narrows it.
    since = None if whole or cursor.since is None else cursor.since - OVERLAP
    service = RegistrationService.build(ctx["settings"], ctx["redis"], session_maker)
    tally = PullTally()
    started = time.perf_counter()
    try:
        remote = await client.get()
        platform_count: int | None = None
        if not whole:
            # Read before the pages: people who arrive meanwhile are then pulled but not yet
            # counted, which errs towards a lower limit, never a higher one.
            platform_count = (await remote.get_event(external_id)).going_count
        page_cursor: str | None = None
        for _ in range(MAX_PAGES):
            page = await remote.list_registrations(external_id, page_cursor, changed_since=since)
            for item in page.items:
                tally.going += item.seats if item.status == "going" else 0
                tally.add(
                    await ingest(
                        service,
                        event_id=event_id,
                        listing_id=listing_id,
                        platform=platform,
                        item=item,
                    )
                )
            page_cursor = page.next_cursor
            if page_cursor is None:
                break
    except PlatformError as exc:
        await _pull_failed(ctx, listing_id, platform, exc, _ms_since(started), client)
        return None
    if platform_count is None:
        platform_count = tally.going
    async with session_maker() as session:
        listing = await session.get(Listing, listing_id)
        if listing is None:
            return None
        now = datetime.now(UTC)
        if platform_count > before_count:
            mark_selling(listing, now)
        listing.platform_count = platform_count
        listing.last_pulled_at = now
        listing.next_pull_at = next_pull_at(
            facts_of(listing), now, hot_on_account=await _hot_on_account(session, listing, now)
        )
        listing.pull_cursor = PullCursor(
            since=started_at, full_at=started_at if whole else cursor.full_at
        ).dump()
        if listing.last_error.startswith("Pull:"):
            listing.last_error = ""
        outcome = PullOutcome(tally, platform_count != before_count)
        if outcome.changed:
            action = "pull_all" if whole else "pull_changes"
            detail = f"{tally.describe()} {platform_count} going on the platform."
        else:
            # A pull that found nothing new is one "last checked" line, not a row a minute.
            await sync_log.forget_checks(session, listing.id)
            action, detail = sync_log.CHECKED, f"No change: {platform_count} going on the platform."
        await sync_log.record(
            session,
            listing=listing,
            platform=platform,
            direction="pull",
            action=action,
            outcome=sync_log.OK,
            detail=detail,
            duration_ms=_ms_since(started),
        )
        await session.commit()
        await _settle_promise(ctx, service, listing)
    return outcome


async def _settle_promise(ctx: JobContext, service: RegistrationService, listing: Listing) -> None:
    """Strict allocation: shrink the listing's promise to what its confirmed limit still
    allows, now that everyone is recorded. Not while a push of it is on its way: that push
    may rely on the larger promise, and it settles the promise itself when it lands."""
    pushes = Coalescer(ctx["redis"], ctx["settings"].redis_prefix, "push")
    if (await pushes.progress(listing.id)).runner_active:
        return
    async with ctx["session_maker"]() as session:
        event = await session.get(Event, listing.event_id)
    if event is not None and await settle_after_pull(service.inventory, event, listing):
        await service.promote_waitlist(event.id)


def _ms_since(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


async def _hot_on_account(session: Any, listing: Listing, now: datetime) -> int:
    """Listings on the same token that sold lately: they share its polling budget."""
    count = await session.scalar(
        select(func.count())
        .select_from(Listing)
        .where(
            Listing.platform == listing.platform,
            Listing.account_id.is_(None)
            if listing.account_id is None
            else Listing.account_id == listing.account_id,
            Listing.sales_seen_at > now - HOT_FOR,
        )
    )
    return max(1, int(count or 0))


async def _pull_failed(
    ctx: JobContext,
    listing_id: UUID,
    platform: str,
    exc: PlatformError,
    ms: int,
    client: JobClient,
) -> None:
    job = ctx.get("job")
    retryable = isinstance(exc, PlatformRateLimited | PlatformTransient)
    final = job is None or job.attempts >= job.retries
    delay = None
    message = exc.message
    if isinstance(exc, PlatformRateLimited):
        delay = await rate_limit_delay(ctx, platform, exc, client.account_key)
    async with ctx["session_maker"]() as session:
        listing = await session.get(Listing, listing_id)
        if listing is not None:
            if (not retryable or final) and listing.sync_state != SyncState.ERROR:
                # Pulls only report here; a listing's push state is the push job's to set, and
                # a push error stays shown until a push succeeds.
                listing.last_error = f"Pull: {message}"
            await sync_log.record(
                session,
                listing=listing,
                platform=platform,
                direction="pull",
                action="pull",
                outcome=sync_log.outcome_of(exc),
                detail=message,
                duration_ms=ms,
            )
        await session.commit()
    if retryable and not final:
        raise RetryLater(sync_log.outcome_of(exc), delay)


@task
async def pull_listing(ctx: JobContext, *, listing_id: str, full: bool = False) -> dict[str, Any]:
    """Pull until no further pull was requested meanwhile, then push the listing once if a
    pass changed something or the listing does not show its target yet."""
    lid = UUID(listing_id)
    settings: Settings = ctx["settings"]
    client = JobClient(ctx, lid)
    outcomes: list[PullOutcome | None] = []

    async def once() -> PullOutcome | None:
        outcome = await pull_once(ctx, lid, client, full=full and not outcomes)
        outcomes.append(outcome)
        return outcome

    try:
        done = await run_coalesced_job(ctx, pull_coalescer(ctx["redis"], settings), lid, once)
    finally:
        await client.aclose()
        # After the pull lease is gone: pushes for this listing were held back meanwhile, so
        # a push that ran during the pull was skipped; nothing is lost if one is owed now. Even
        # after a failed pull: the push then fails into the listing's own retry schedule rather
        # than leave a change no job carries.
        pulled = [o for o in outcomes if o is not None]
        if any(o.changed for o in pulled) or await push_owed(ctx, lid):
            await enqueue_push(settings, ctx["redis"], ctx["queues"], lid, urgent=False)
    if done is None:
        return {"outcome": "busy"}
    tallies = [o.tally.counts for o in outcomes if o is not None]
    return {"outcome": "done", "passes": len(outcomes), "counts": [dict(t) for t in tallies]}


# Every 2 seconds (SAQ cron with a seconds field; one run per tick across all workers).
TICK_CRON = "* * * * * */2"
# A due listing is not handed out again for this long while its pull is queued or running.
PULL_CLAIM = timedelta(seconds=30)


@cron(TICK_CRON, timeout=30)
async def pull_all_listings(ctx: JobContext) -> dict[str, int]:
    """The scheduler's tick: pull the listings whose next pull is due, re-drive failing
    listings whose retry time has come, and (once a minute) resume stranded pushes.

    Listings of published events are pulled from their linking until two days after the
    event; how often is services.mirror.poll_schedule's call (a new listing at once). Meetup has no
    webhooks, so this is how its RSVPs arrive; for Eventbrite and Luma it also catches
    whatever a lost webhook would have told us.
    """
    now = datetime.now(UTC)
    active = (
        select(Listing)
        .join(Event, Event.id == Listing.event_id)
        .where(
            Event.status == EventStatus.PUBLISHED,
            Event.deleted_at.is_(None),
            Event.starts_at > now - PULL_AFTER_END,
        )
    )
    settings, redis, queues = ctx["settings"], ctx["redis"], ctx["queues"]
    async with ctx["session_maker"]() as session:
        due = list(
            await session.scalars(
                active.where(
                    or_(
                        Listing.next_pull_at.is_(None),
                        Listing.next_pull_at <= now,
                        Listing.retry_at <= now,
                    )
                ).with_for_update(skip_locked=True, of=Listing)
            )
        )
        to_pull = [row.id for row in due if row.next_pull_at is None or row.next_pull_at <= now]
        to_redrive = [
            row.id
            for row in due
            if row.retry_at is not None
            and row.retry_at <= now
            and row.sync_state != SyncState.IN_STEP
        ]
        for row in due:
            if row.id in to_pull:
                row.next_pull_at = now + PULL_CLAIM  # the pull sets the real next time
            if row.retry_at is not None and row.retry_at <= now:
                row.retry_at = None  # the push sets the next one if it fails again
        await session.commit()
    for listing_id in to_pull:
        await enqueue_pull(settings, redis, queues, listing_id)
    for listing_id in to_redrive:
        await enqueue_push(settings, redis, queues, listing_id, urgent=False)
    stranded = 0
    if await _minute_due(redis, settings, now):
        async with ctx["session_maker"]() as session:
            every = list(await session.scalars(active.with_only_columns(Listing.id)))
        pushes = Coalescer(redis, settings.redis_prefix, "push")
        for listing_id in every:
            progress = await pushes.progress(listing_id)
            if progress.pending and not progress.runner_active:
                # A change no push has carried yet (its job gave up, or its worker died).
                stranded += 1
                await enqueue_push(settings, redis, queues, listing_id, urgent=False)
    return {"listings": len(to_pull), "redriven": len(to_redrive), "pushes_resumed": stranded}


async def _minute_due(redis: Any, settings: Settings, now: datetime) -> bool:
    """True once per minute across all workers."""
    key = redis_keys.stranded_sweep(settings.redis_prefix, now.strftime("%Y%m%d%H%M"))
    return bool(await redis.set(key, "1", nx=True, ex=120))
