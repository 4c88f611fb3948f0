from __future__ import annotations

from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from community.models.enums import Channel, allowed_values_check


class Member(UUIDv7AuditBase):
    """One person, however many platforms they use.

    `email` is normalised (see services.people.members).
    """

    __tablename__ = "members"
    __table_args__ = (
        Index("uq_members_email", "email", unique=True, postgresql_where=text("email IS NOT NULL")),
    )

    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320))

    identities: Mapped[list[MemberIdentity]] = relationship(
        back_populates="member",
        lazy="selectin",
        cascade="all, delete-orphan",
        foreign_keys="MemberIdentity.member_id",
    )


class MemberIdentity(UUIDv7AuditBase):
    """How one platform (or our own page) knows a member."""

    __tablename__ = "member_identities"
    __table_args__ = (
        CheckConstraint(allowed_values_check("platform", Channel), name="platform"),
        UniqueConstraint("platform", "external_id", name="uq_member_identities_platform_external"),
    )

    member_id: Mapped[UUID] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), index=True
    )
    platform: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(320))
    email: Mapped[str | None] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200), default="")
    # The platform's profile photo (https), shown among the faces of who is going.
    photo_url: Mapped[str | None] = mapped_column(String(500))
    # The profile this identity was first attached to, so a manual merge can be undone.
    original_member_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )

    # Not loaded unless a query asks: reading it unloaded raises rather than giving None.
    member: Mapped[Member] = relationship(
        back_populates="identities", foreign_keys=[member_id], lazy="raise"
    )
