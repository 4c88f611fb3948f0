from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from community.models.enums import (
    Allocation,
    EventStatus,
    ListingState,
    Platform,
    SoldOutMode,
    SyncState,
    Theme,
    allowed_values_check,
)

if TYPE_CHECKING:
    from community.models.platform_account import PlatformAccount


class Event(UUIDv7AuditBase):
    """One event; its seat inventory is mastered here and mirrored to the listings."""

    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint(allowed_values_check("status", EventStatus), name="status"),
        CheckConstraint(allowed_values_check("theme", Theme), name="theme"),
        CheckConstraint(allowed_values_check("soldout_mode", SoldOutMode), name="soldout_mode"),
        CheckConstraint(allowed_values_check("allocation", Allocation), name="allocation"),
        CheckConstraint("capacity >= 0", name="capacity"),
        CheckConstraint("native_reserve >= 0 AND native_reserve <= capacity", name="reserve"),
        CheckConstraint("ends_at IS NULL OR ends_at >= starts_at", name="end_after_start"),
        CheckConstraint("price_cents >= 0", name="price_not_negative"),
        CheckConstraint(
            "refund_days_before IS NULL OR refund_days_before BETWEEN 0 AND 365",
            name="refund_days_before",
        ),
    )

    slug: Mapped[str] = mapped_column(String(120), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(String(300), default="")
    description_md: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    venue_name: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    city: Mapped[str] = mapped_column(String(120), default="")
    country: Mapped[str] = mapped_column(String(2), default="")
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    online_url: Mapped[str] = mapped_column(String(500), default="")
    cover_image_url: Mapped[str] = mapped_column(String(500), default="")
    organiser_name: Mapped[str] = mapped_column(String(200), default="")
    group_name: Mapped[str] = mapped_column(String(200), default="")
    theme: Mapped[str] = mapped_column(String(16), default=Theme.MEETUP)
    status: Mapped[str] = mapped_column(String(16), default=EventStatus.DRAFT)
    capacity: Mapped[int] = mapped_column(Integer, default=0)
    native_reserve: Mapped[int] = mapped_column(Integer, default=0)
    soldout_mode: Mapped[str] = mapped_column(String(16), default=SoldOutMode.SOLD_OUT)
    allocation: Mapped[str] = mapped_column(
        String(16), default=Allocation.STRICT, server_default=Allocation.STRICT.value
    )
    price_cents: Mapped[int] = mapped_column(Integer, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    # Paid tickets: a cancelled ticket is refunded in full until this many days before the
    # start; None means no refunds (cancelling the whole event refunds everyone regardless).
    refund_days_before: Mapped[int | None] = mapped_column(Integer, default=None)
    owner_id: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    listings: Mapped[list[Listing]] = relationship(
        back_populates="event", lazy="selectin", cascade="all, delete-orphan"
    )


class Listing(UUIDv7AuditBase):
    """The same event as listed on one platform, and how far the mirror has got with it."""

    __tablename__ = "listings"
    __table_args__ = (
        CheckConstraint(allowed_values_check("platform", Platform), name="platform"),
        CheckConstraint(allowed_values_check("remote_state", ListingState), name="remote_state"),
        CheckConstraint(allowed_values_check("sync_state", SyncState), name="sync_state"),
        UniqueConstraint("event_id", "platform", name="uq_listings_event_platform"),
        UniqueConstraint("platform", "external_id", name="uq_listings_platform_external"),
        Index("ix_listings_retry_at", "retry_at"),
        Index("ix_listings_next_pull_at", "next_pull_at"),
    )

    event_id: Mapped[UUID] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("platform_accounts.id", ondelete="SET NULL")
    )
    external_id: Mapped[str] = mapped_column(String(120))
    url: Mapped[str] = mapped_column(String(500), default="")
    platform_count: Mapped[int] = mapped_column(Integer, default=0)
    last_pushed_limit: Mapped[int | None] = mapped_column(Integer)
    # The platform's own "going" count as it last reported it, in a pull or after a push: a
    # push never goes below it.
    remote_going: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    remote_state: Mapped[str] = mapped_column(String(16), default=ListingState.OPEN)
    sync_state: Mapped[str] = mapped_column(String(16), default=SyncState.IN_STEP)
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_pushed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_pulled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    pull_cursor: Mapped[str] = mapped_column(Text, default="")
    # Self-healing (tasks.listing_health): when the current run of failures began, and when the
    # listing is tried again; both None while the listing is in step.
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retry_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Adaptive polling (services.mirror.poll_schedule): the next scheduled pull, and the last time a
    # pull or webhook saw the platform's count go up.
    next_pull_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sales_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    # Not loaded unless a query asks: reading it unloaded raises rather than giving None.
    event: Mapped[Event] = relationship(back_populates="listings", lazy="raise")
    account: Mapped[PlatformAccount | None] = relationship(lazy="raise")
