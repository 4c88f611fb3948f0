from __future__ import annotations

from datetime import datetime
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from sqlalchemy import CheckConstraint, DateTime, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from community.models.enums import Platform, allowed_values_check


class PlatformAccount(UUIDv7AuditBase):
    """An organiser's connection to a platform.

    Secrets are stored encrypted (services.mirror.token_crypto).
    """

    __tablename__ = "platform_accounts"
    __table_args__ = (
        CheckConstraint(allowed_values_check("platform", Platform), name="platform"),
        UniqueConstraint("user_id", "platform", name="uq_platform_accounts_user_platform"),
    )

    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(16))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    external_account_id: Mapped[str] = mapped_column(String(120), default="")
    access_token_enc: Mapped[str] = mapped_column(Text, default="")
    refresh_token_enc: Mapped[str] = mapped_column(Text, default="")
    api_key_enc: Mapped[str] = mapped_column(Text, default="")
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str] = mapped_column(Text, default="")
    disconnected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
