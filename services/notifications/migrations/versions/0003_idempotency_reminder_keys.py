"""Idempotency keys on POSTs; the reminders armed per client, so that closing a file cancels them.

Revision ID: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

from passage.idempotency import create_idempotency_table, drop_idempotency_table

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

S = "notifications"


def upgrade() -> None:
    create_idempotency_table(op.get_bind(), S)
    op.create_table(
        "reminder_clients",
        sa.Column("client_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("record_version", sa.Integer, nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        schema=S,
    )
    op.create_table(
        "reminder_keys",
        sa.Column("kind", sa.String(50), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("client_id", UUID(as_uuid=True), nullable=False, index=True),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("reminder_keys", schema=S)
    op.drop_table("reminder_clients", schema=S)
    drop_idempotency_table(op.get_bind(), S)
