"""identity photo: a platform member's profile photo, for the faces of who is going

Revision ID: 8e3a6c51d7f4
Revises: 5c1f0e7a9b2d
Create Date: 2026-12-04 18:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "8e3a6c51d7f4"
down_revision = "5c1f0e7a9b2d"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("member_identities", sa.Column("photo_url", sa.String(500), nullable=True))


def downgrade() -> None:
    op.drop_column("member_identities", "photo_url")
