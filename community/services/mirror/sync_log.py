"""Every push, pull and webhook, with its outcome and duration, for the organiser to read.

Details are plain words meant for the admin page: never a token, never a person's name or
e-mail (platform error messages are already written that way, see platforms.errors).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.models import Listing, SyncLog
from community.platforms.errors import (
    NotSupported,
    PlatformAuthError,
    PlatformError,
    PlatformNotFound,
    PlatformRateLimited,
    PlatformRejected,
    PlatformTransient,
)

OK = "ok"
SKIPPED = "skipped"
# The action of a pull that changed nothing: only the latest one per listing is kept.
CHECKED = "pull_checked"
DIRECTIONS = ("push", "pull", "webhook", "checkin")
_KINDS: tuple[tuple[type[PlatformError], str], ...] = (
    (PlatformAuthError, "auth"),
    (PlatformNotFound, "not_found"),
    (PlatformRateLimited, "rate_limited"),
    (PlatformTransient, "transient"),
    (PlatformRejected, "rejected"),
    (NotSupported, "unsupported"),
)
MAX_DETAIL = 500


def outcome_of(error: BaseException) -> str:
    """The outcome word recorded for a failure."""
    for kind, word in _KINDS:
        if isinstance(error, kind):
            return word
    return "error"


def detail_of(error: BaseException) -> str:
    """Words safe to show: a platform error's own message, else only the error's type."""
    if isinstance(error, PlatformError):
        return error.message
    return f"Unexpected failure ({type(error).__name__})."


@dataclass
class Stopwatch:
    started: float
    ms: int = 0


@contextmanager
def stopwatch() -> Iterator[Stopwatch]:
    watch = Stopwatch(time.perf_counter())
    try:
        yield watch
    finally:
        watch.ms = int((time.perf_counter() - watch.started) * 1000)


def entry(
    *,
    platform: str,
    direction: str,
    action: str,
    outcome: str,
    detail: str = "",
    duration_ms: int = 0,
    listing: Listing | None = None,
    event_id: UUID | None = None,
) -> SyncLog:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}")
    return SyncLog(
        event_id=listing.event_id if listing is not None else event_id,
        listing_id=listing.id if listing is not None else None,
        platform=platform,
        direction=direction,
        action=action[:64],
        outcome=outcome[:32],
        detail=detail[:MAX_DETAIL],
        duration_ms=max(0, duration_ms),
    )


async def record(session: AsyncSession, **fields: object) -> SyncLog:
    """Add an entry to ``session``; the caller commits with its own changes."""
    row = entry(**fields)  # type: ignore[arg-type]
    session.add(row)
    return row


async def record_now(session_maker: async_sessionmaker[AsyncSession], **fields: object) -> None:
    """Write an entry in its own transaction, so it survives the caller's rollback."""
    async with session_maker() as session:
        session.add(entry(**fields))  # type: ignore[arg-type]
        await session.commit()


async def recent(
    session: AsyncSession,
    *,
    event_id: UUID | None = None,
    listing_id: UUID | None = None,
    direction: str | None = None,
    limit: int = 50,
) -> Sequence[SyncLog]:
    """Newest first, for the admin's sync log."""
    query = select(SyncLog).order_by(SyncLog.created_at.desc(), SyncLog.id.desc())
    if event_id is not None:
        query = query.where(SyncLog.event_id == event_id)
    if listing_id is not None:
        query = query.where(SyncLog.listing_id == listing_id)
    if direction is not None:
        query = query.where(SyncLog.direction == direction)
    return (await session.scalars(query.limit(max(1, min(limit, 500))))).all()


async def forget_checks(session: AsyncSession, listing_id: UUID) -> None:
    """Drop the listing's earlier no-change pulls: the new one says when it was last checked."""
    await session.execute(
        delete(SyncLog).where(SyncLog.listing_id == listing_id, SyncLog.action == CHECKED)
    )
