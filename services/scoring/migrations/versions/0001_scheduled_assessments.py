"""Scheduled assessments, and scoring's outbox and inbox.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

from passage.bus.tables import create_bus_tables, drop_bus_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_bus_tables(op.get_bind(), "scoring")
    op.create_table(
        "scheduled_assessments",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("client_id", UUID(as_uuid=True), nullable=False),
        sa.Column("agency_id", sa.String(100), nullable=False),
        sa.Column("instrument", sa.String(40), nullable=False),
        sa.Column("round", sa.String(40), nullable=False),
        sa.Column("due_on", sa.Date, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("client_id", "instrument", "round"),
        schema="scoring",
    )
    op.create_index("ix_scoring_scheduled_client", "scheduled_assessments", ["client_id"], schema="scoring")
    op.create_index("ix_scoring_scheduled_agency", "scheduled_assessments", ["agency_id"], schema="scoring")


def downgrade() -> None:
    op.drop_table("scheduled_assessments", schema="scoring")
    drop_bus_tables(op.get_bind(), "scoring")
