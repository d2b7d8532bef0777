"""Intake's durable timers (retention after closure, consent expiry).

Revision ID: 0003
"""

from __future__ import annotations

from alembic import op

from passage.timers import create_timer_table, drop_timer_table

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_timer_table(op.get_bind(), "intake")


def downgrade() -> None:
    drop_timer_table(op.get_bind(), "intake")
