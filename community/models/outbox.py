from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from sqlalchemy import JSON, DateTime, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column


class OutboxMessage(UUIDv7AuditBase):
    """An email we send (or, with no SMTP configured, keep here for the admin to read).

    A ticket e-mail's row is written with its registration, in the same transaction, and is
    unique per (registration, kind): it is sent once, by whichever job claims it first.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index(
            "uq_outbox_registration_kind",
            "registration_id",
            "kind",
            unique=True,
            postgresql_where=text("registration_id IS NOT NULL AND kind <> 'resend'"),
        ),
        Index("ix_outbox_to_addr_created_at", "to_addr", "created_at"),
        Index(
            "ix_outbox_pending",
            "created_at",
            postgresql_where=text("status IN ('queued', 'sending')"),
        ),
    )

    to_addr: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text, default="")
    html_body: Mapped[str] = mapped_column(Text, default="")
    # [{"filename": ..., "content_type": ..., "content_b64": ...}]
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # queued|sending|sent|kept|failed|suppressed
    status: Mapped[str] = mapped_column(String(16), default="queued")
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str] = mapped_column(Text, default="")
    # What the mail is about: a ticket mail's registration and reason (confirmed, cancelled,
    # resend, ...), or "signin"; empty for anything else.
    registration_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("registrations.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(String(24), default="", server_default="")
    # A mail about a payment (a seat offered, a payment refunded): composed from it at delivery.
    payment_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("payments.id", ondelete="SET NULL"), default=None
    )
    # When a delivery job took the row (status "sending"); a claim older than the lease is
    # taken to be a worker that died mid-send.
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
