"""outbox: one ticket e-mail per (registration, kind), claimed before it is sent

Revision ID: 5c1f0e7a9b2d
Revises: 5b2e7c41a9d0
Create Date: 2026-12-04 14:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import GUID
from alembic import op

revision = "5c1f0e7a9b2d"
down_revision = "5b2e7c41a9d0"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("registration_id", GUID(length=16), nullable=True))
    op.add_column("outbox", sa.Column("kind", sa.String(length=24), nullable=False,
                                      server_default=""))  # fmt: skip
    op.add_column("outbox", sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_foreign_key(
        op.f("fk_outbox_registration_id_registrations"),
        "outbox",
        "registrations",
        ["registration_id"],
        ["id"],
        ondelete="SET NULL",
    )
    # A person gets each kind of mail about one registration once; "send my ticket again"
    # may repeat (it is rate limited instead).
    op.create_index(
        "uq_outbox_registration_kind",
        "outbox",
        ["registration_id", "kind"],
        unique=True,
        postgresql_where=sa.text("registration_id IS NOT NULL AND kind <> 'resend'"),
    )
    # Per-recipient quota and repeat checks, and the re-drive of rows left queued.
    op.create_index("ix_outbox_to_addr_created_at", "outbox", ["to_addr", "created_at"])
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["created_at"],
        postgresql_where=sa.text("status IN ('queued', 'sending')"),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_pending", table_name="outbox")
    op.drop_index("ix_outbox_to_addr_created_at", table_name="outbox")
    op.drop_index("uq_outbox_registration_kind", table_name="outbox")
    op.drop_constraint(
        op.f("fk_outbox_registration_id_registrations"), "outbox", type_="foreignkey"
    )
    op.drop_column("outbox", "claimed_at")
    op.drop_column("outbox", "kind")
    op.drop_column("outbox", "registration_id")
