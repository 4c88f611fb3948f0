"""guest seats: a registration's guests each hold a seat of their own

Revision ID: 5b7e0c3a91d2
Revises: ad1921e3c22b
Create Date: 2026-12-04 14:55:00
"""

from __future__ import annotations

import advanced_alchemy.types
import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

sa.GUID = GUID  # type: ignore[attr-defined]
sa.DateTimeUTC = DateTimeUTC  # type: ignore[attr-defined]

revision = "5b7e0c3a91d2"
down_revision = "ad1921e3c22b"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "registrations",
        sa.Column("guest_of_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    )
    op.create_foreign_key(
        op.f("fk_registrations_guest_of_id_registrations"),
        "registrations",
        "registrations",
        ["guest_of_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.alter_column("registrations", "member_id", existing_type=sa.GUID(length=16), nullable=True)
    op.create_check_constraint(
        op.f("ck_registrations_guest_has_host_not_member"),
        "registrations",
        "(member_id IS NULL) = (guest_of_id IS NOT NULL)",
    )
    op.create_index(
        "ix_registrations_guest_of",
        "registrations",
        ["guest_of_id"],
        unique=False,
        postgresql_where=sa.text("guest_of_id IS NOT NULL"),
    )


def downgrade() -> None:
    # Guest seats have no member to fall back on: they go with the column.
    op.execute("DELETE FROM registrations WHERE guest_of_id IS NOT NULL")
    op.drop_index(
        "ix_registrations_guest_of",
        table_name="registrations",
        postgresql_where=sa.text("guest_of_id IS NOT NULL"),
    )
    op.drop_constraint(
        op.f("ck_registrations_guest_has_host_not_member"), "registrations", type_="check"
    )
    op.alter_column("registrations", "member_id", existing_type=sa.GUID(length=16), nullable=False)
    op.drop_constraint(
        op.f("fk_registrations_guest_of_id_registrations"), "registrations", type_="foreignkey"
    )
    op.drop_column("registrations", "guest_of_id")
