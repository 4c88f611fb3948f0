from __future__ import annotations

from datetime import datetime
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from community.models.enums import Channel, RegistrationStatus, allowed_values_check
from community.models.member import Member

ACTIVE = "status IN ('confirmed', 'waitlisted')"


class Registration(UUIDv7AuditBase):
    """A member's place at an event, from any channel. The ledger behind the Traffic Cop."""

    __tablename__ = "registrations"
    __table_args__ = (
        CheckConstraint(allowed_values_check("channel", Channel), name="channel"),
        CheckConstraint(allowed_values_check("status", RegistrationStatus), name="status"),
        CheckConstraint("seat_no IS NULL OR seat_no >= 1", name="seat_positive"),
        # A confirmed registration holds a seat, unless it is a platform race we could not seat.
        CheckConstraint(
            "status <> 'confirmed' OR seat_no IS NOT NULL OR over_capacity",
            name="confirmed_has_seat",
        ),
        # A guest seat is nobody's profile: it belongs to the person who brought the guest.
        CheckConstraint(
            "(member_id IS NULL) = (guest_of_id IS NOT NULL)", name="guest_has_host_not_member"
        ),
        # One person holds one place per event.
        Index(
            "uq_registrations_active_member",
            "event_id",
            "member_id",
            unique=True,
            postgresql_where=text(ACTIVE),
        ),
        # The last line of defence against oversell: a seat number belongs to one registration.
        Index(
            "uq_registrations_active_seat",
            "event_id",
            "seat_no",
            unique=True,
            postgresql_where=text("status = 'confirmed' AND seat_no IS NOT NULL"),
        ),
        Index(
            "uq_registrations_external",
            "event_id",
            "channel",
            "external_id",
            unique=True,
            postgresql_where=text("external_id IS NOT NULL"),
        ),
        Index("ix_registrations_event_status", "event_id", "status"),
        Index(
            "ix_registrations_guest_of",
            "guest_of_id",
            postgresql_where=text("guest_of_id IS NOT NULL"),
        ),
    )

    event_id: Mapped[UUID] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    # NULL for a guest seat (see guest_of_id): guests are not people we know, so the one
    # active place per member stays the host's and a guest never counts as a second person.
    member_id: Mapped[UUID | None] = mapped_column(ForeignKey("members.id", ondelete="RESTRICT"))
    # A seat taken by a guest (a Meetup +1, an extra ticket of the same Eventbrite order):
    # it follows the host registration, which shows it as "+N guests".
    guest_of_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("registrations.id", ondelete="CASCADE")
    )
    # The profile this registration belonged to before a manual merge, so it can be undone.
    original_member_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    listing_id: Mapped[UUID | None] = mapped_column(ForeignKey("listings.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(16), default=Channel.NATIVE)
    status: Mapped[str] = mapped_column(String(16), default=RegistrationStatus.CONFIRMED)
    seat_no: Mapped[int | None] = mapped_column(Integer)
    over_capacity: Mapped[bool] = mapped_column(Boolean, default=False)
    # Accepted by a platform before our limit reached it; it may sit in a reserved seat.
    past_mirror: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    external_id: Mapped[str | None] = mapped_column(String(120))
    # Unguessable secret that names the ticket in links; never a sequential id.
    ticket_token: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320))
    waitlisted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    checked_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    checked_in_by: Mapped[str] = mapped_column(String(120), default="")
    checked_in_user_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )

    # Not loaded unless a query asks: reading it unloaded raises rather than giving None.
    member: Mapped[Member] = relationship(lazy="raise", foreign_keys=[member_id])


class CheckinLog(UUIDv7AuditBase):
    """Every scan or manual check-in at the door, whatever its outcome."""

    __tablename__ = "checkin_log"
    __table_args__ = (
        Index("ix_checkin_log_event", "event_id", "created_at"),
        # A door retries a scan it got no answer for under the same op id: applied once.
        Index(
            "uq_checkin_log_op", "op_id", unique=True, postgresql_where=text("op_id IS NOT NULL")
        ),
    )

    event_id: Mapped[UUID] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    registration_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("registrations.id", ondelete="SET NULL")
    )
    user_id: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    device: Mapped[str] = mapped_column(String(120), default="")
    result: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(300), default="")
    scanned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    offline: Mapped[bool] = mapped_column(Boolean, default=False)
    op_id: Mapped[UUID | None] = mapped_column(default=None)
