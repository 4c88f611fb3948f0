from __future__ import annotations

from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column


class SyncLog(UUIDv7AuditBase):
    """One push to or pull from a platform listing and how it went."""

    __tablename__ = "sync_log"
    __table_args__ = (Index("ix_sync_log_event", "event_id", "created_at"),)

    event_id: Mapped[UUID | None] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    listing_id: Mapped[UUID | None] = mapped_column(ForeignKey("listings.id", ondelete="SET NULL"))
    platform: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(16))  # push | pull | webhook | checkin
    action: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(32))  # ok | error kind
    detail: Mapped[str] = mapped_column(Text, default="")
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
