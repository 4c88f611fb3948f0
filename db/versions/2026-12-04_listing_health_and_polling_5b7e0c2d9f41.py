"""listing self-healing and adaptive polling

Revision ID: 5b7e0c2d9f41
Revises: 7d2e4a91c0b3
Create Date: 2026-12-04 14:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "5b7e0c2d9f41"
down_revision = "7d2e4a91c0b3"
branch_labels = None
depends_on = None

COLUMNS = ("failing_since", "retry_at", "next_pull_at", "sales_seen_at")


def upgrade() -> None:
    for name in COLUMNS:
        op.add_column("listings", sa.Column(name, sa.DateTime(timezone=True), nullable=True))
    # The scheduler's tick looks up due listings by these two.
    op.create_index("ix_listings_retry_at", "listings", ["retry_at"])
    op.create_index("ix_listings_next_pull_at", "listings", ["next_pull_at"])


def downgrade() -> None:
    op.drop_index("ix_listings_next_pull_at", table_name="listings")
    op.drop_index("ix_listings_retry_at", table_name="listings")
    for name in reversed(COLUMNS):
        op.drop_column("listings", name)
