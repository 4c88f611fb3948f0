"""users.session_version: a password reset ends the user's other sessions and door tokens

Revision ID: 7d2e4a91c0b3
Revises: 5b7e0c3a91d2
Create Date: 2026-12-04 14:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "7d2e4a91c0b3"
down_revision = "5b7e0c3a91d2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("session_version", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("users", "session_version")
