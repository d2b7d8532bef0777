"""Clients, and intake's outbox and inbox.

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
    create_bus_tables(op.get_bind(), "intake")
    op.create_table(
        "clients",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("agency_id", sa.String(100), nullable=False),
        sa.Column("given_name", sa.String(200), nullable=False),
        sa.Column("family_name", sa.String(200), nullable=False),
        sa.Column("birth_year", sa.Integer, nullable=False),
        sa.Column("sex", sa.String(20), nullable=False),
        sa.Column("registered_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        schema="intake",
    )
    op.create_index("ix_intake_clients_agency_id", "clients", ["agency_id"], schema="intake")


def downgrade() -> None:
    op.drop_table("clients", schema="intake")
    drop_bus_tables(op.get_bind(), "intake")
