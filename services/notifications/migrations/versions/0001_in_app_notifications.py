"""In-app notifications, and the notifications outbox and inbox.

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
    create_bus_tables(op.get_bind(), "notifications")
    op.create_table(
        "in_app_notifications",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("recipient_agency", sa.String(100), nullable=False),
        sa.Column("recipient_user", sa.String(200), nullable=True),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("resource", sa.String(200), nullable=False),
        sa.Column("source_event_id", UUID(as_uuid=True), nullable=False),
        sa.Column("source_event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("source_event_id", "recipient_agency"),
        schema="notifications",
    )
    op.create_index(
        "ix_notifications_recipient_created",
        "in_app_notifications",
        ["recipient_agency", sa.text("created_at DESC"), sa.text("id DESC")],
        schema="notifications",
    )


def downgrade() -> None:
    op.drop_table("in_app_notifications", schema="notifications")
    drop_bus_tables(op.get_bind(), "notifications")
