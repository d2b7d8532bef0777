"""The directory projection remembers the `updated_at` of the service it was fetched from, so that a
slower, older fetch never overwrites a newer one.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

S = "scoring"


def upgrade() -> None:
    op.add_column(
        "directory_services",
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=True),
        schema=S,
    )


def downgrade() -> None:
    op.drop_column("directory_services", "source_updated_at", schema=S)
