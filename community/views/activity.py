"""Read side of the sync log and the mail outbox for the admin."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from community.models import Event, OutboxMessage, SyncLog
from community.services.mirror.sync_log import CHECKED, DIRECTIONS, OK, SKIPPED

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
    timezone: str = "UTC"  # times are shown in the event's own zone, named

    @property
    def ok(self) -> bool:
        return self.entry.outcome in (OK, SKIPPED)


def _filtered(query: Any, flt: SyncFilter) -> Any:
    if flt.event_id is not None:
        query = query.where(SyncLog.event_id == flt.event_id)
    if flt.platform:
        query = query.where(SyncLog.platform == flt.platform)
    if flt.direction:
        query = query.where(SyncLog.direction == flt.direction)
    return query


def _scoped(query: Any, scope: ColumnElement[bool] | None) -> Any:
    """Only the user's events (services.access.scope), which leaves out account-level entries."""
    return query if scope is None else query.where(SyncLog.event_id.is_not(None), scope)


async def last_checks(
    session: AsyncSession, flt: SyncFilter, *, scope: ColumnElement[bool] | None = None
) -> list[SyncRow]:
    """The latest pull that found nothing new, per listing (the no-op pulls, collapsed)."""
    if flt.problems or flt.direction not in ("", "pull"):
        return []
    query = _filtered(
        select(SyncLog, Event.title, Event.timezone)
        .outerjoin(Event, Event.id == SyncLog.event_id)
        .where(SyncLog.action == CHECKED)
        .order_by(SyncLog.created_at.desc()),
        flt,
    )
    rows = await session.execute(_scoped(query, scope).limit(12))
    return [SyncRow(entry, title or "", tz or "UTC") for entry, title, tz in rows]


async def sync_entries(
    session: AsyncSession, flt: SyncFilter, *, scope: ColumnElement[bool] | None = None
) -> list[SyncRow]:
    """The latest entries, within `scope` (see _scoped)."""
    query = (
        select(SyncLog, Event.title, Event.timezone)
        .outerjoin(Event, Event.id == SyncLog.event_id)
        .where(SyncLog.action != CHECKED)
        .order_by(SyncLog.created_at.desc(), SyncLog.id.desc())
    )
    query = _scoped(query, scope)
    if flt.event_id is not None:
        query = query.where(SyncLog.event_id == flt.event_id)
    if flt.platform:
        query = query.where(SyncLog.platform == flt.platform)
    if flt.direction:
        query = query.where(SyncLog.direction == flt.direction)
    if flt.problems:
        query = query.where(SyncLog.outcome.not_in([OK, SKIPPED]))
    rows = await session.execute(query.limit(PAGE_SIZE))
    return [SyncRow(entry, title or "", tz or "UTC") for entry, title, tz in rows]


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
    if status in ("queued", "sending", "sent", "kept", "failed", "suppressed"):
        query = query.where(OutboxMessage.status == status)
    total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = await session.scalars(
        query.order_by(OutboxMessage.created_at.desc())
        .offset((max(1, page) - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    return list(rows), total


_SAFE_IMAGE = ("image/png", "image/jpeg", "image/gif", "image/svg+xml")


def preview_html(message: OutboxMessage) -> str:
    """The HTML part as the recipient's mail program shows it: images the mail carries inline
    (``cid:`` links, such as the ticket's QR code) are put in place from the attachments."""
    html = message.html_body
    for item in message.attachments or []:
        cid, kind = item.get("cid"), str(item.get("content_type", "")).split(";")[0].strip()
        if cid and kind in _SAFE_IMAGE:
            html = html.replace(f"cid:{cid}", f"data:{kind};base64,{item['content_b64']}")
    return html
