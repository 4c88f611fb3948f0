"""Read side of the sync log and the mail outbox for the admin."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from community.models import Event, OutboxMessage, SyncLog
from community.services.sync_log import DIRECTIONS, OK, SKIPPED

PAGE_SIZE = 100


@dataclass(frozen=True)
class SyncFilter:
    event_id: UUID | None = None
    platform: str = ""
    direction: str = ""
    problems: bool = False

    @classmethod
    def parse(cls, event: str, platform: str, direction: str, problems: str) -> SyncFilter:
        try:
            event_id = UUID(event) if event else None
        except ValueError:
            event_id = None
        return cls(
            event_id=event_id,
            platform=platform if platform in ("meetup", "eventbrite", "luma") else "",
            direction=direction if direction in DIRECTIONS else "",
            problems=problems in ("1", "on", "true"),
        )


@dataclass(frozen=True)
class SyncRow:
    entry: SyncLog
    event_title: str

    @property
    def ok(self) -> bool:
        return self.entry.outcome in (OK, SKIPPED)


async def sync_entries(
    session: AsyncSession, flt: SyncFilter, *, scope: ColumnElement[bool] | None = None
) -> list[SyncRow]:
    """The latest entries; `scope` limits them to the user's events (services.access), which
    leaves out account-level entries that name no event."""
    query = (
        select(SyncLog, Event.title)
        .outerjoin(Event, Event.id == SyncLog.event_id)
        .order_by(SyncLog.created_at.desc(), SyncLog.id.desc())
    )
    if scope is not None:
        query = query.where(SyncLog.event_id.is_not(None), scope)
    if flt.event_id is not None:
        query = query.where(SyncLog.event_id == flt.event_id)
    if flt.platform:
        query = query.where(SyncLog.platform == flt.platform)
    if flt.direction:
        query = query.where(SyncLog.direction == flt.direction)
    if flt.problems:
        query = query.where(SyncLog.outcome.not_in([OK, SKIPPED]))
    rows = await session.execute(query.limit(PAGE_SIZE))
    return [SyncRow(entry, title or "") for entry, title in rows]


async def events_with_sync(
    session: AsyncSession, *, scope: ColumnElement[bool] | None = None
) -> Sequence[tuple[UUID, str]]:
    rows = await session.execute(
        select(Event.id, Event.title)
        .where(Event.id.in_(select(SyncLog.event_id).distinct()))
        .where(scope if scope is not None else true())
        .order_by(Event.starts_at.desc())
        .limit(100)
    )
    return [(event_id, title) for event_id, title in rows]


async def outbox_messages(
    session: AsyncSession, status: str = "", page: int = 1
) -> tuple[list[OutboxMessage], int]:
    query = select(OutboxMessage)
    if status in ("queued", "sent", "kept", "failed"):
        query = query.where(OutboxMessage.status == status)
    total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = await session.scalars(
        query.order_by(OutboxMessage.created_at.desc())
        .offset((max(1, page) - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    return list(rows), total
