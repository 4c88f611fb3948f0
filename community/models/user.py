from __future__ import annotations

from datetime import datetime

from advanced_alchemy.base import UUIDv7AuditBase
from sqlalchemy import Boolean, CheckConstraint, DateTime, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from community.models.enums import Role, allowed_values_check


class User(UUIDv7AuditBase):
    """Someone who signs in to the admin or the door page."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(allowed_values_check("role", Role), name="role"),)

    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=Role.ORGANISER)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Part of every session and door token: raising it (a password reset) ends them all.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
