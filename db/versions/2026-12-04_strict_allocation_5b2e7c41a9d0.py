"""strict allocation: events.allocation, listings.remote_going

Revision ID: 5b2e7c41a9d0
Revises: 5b7e0c2d9f41
Create Date: 2026-12-04 15:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "5b2e7c41a9d0"
down_revision = "5b7e0c2d9f41"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "events",
        sa.Column("allocation", sa.String(length=16), server_default="strict", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_events_allocation"), "events", "allocation IN ('strict', 'shared')"
    )
    op.add_column(
        "listings",
        sa.Column("remote_going", sa.Integer(), server_default="0", nullable=False),
    )


def downgrade() -> None:
    op.drop_column("listings", "remote_going")
    op.drop_constraint(op.f("ck_events_allocation"), "events", type_="check")
    op.drop_column("events", "allocation")
