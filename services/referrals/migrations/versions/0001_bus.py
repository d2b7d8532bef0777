"""The referrals outbox and inbox.

Revision ID: 0001
"""

from __future__ import annotations

from alembic import op

from passage.bus.tables import create_bus_tables, drop_bus_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_bus_tables(op.get_bind(), "referrals")


def downgrade() -> None:
    drop_bus_tables(op.get_bind(), "referrals")
