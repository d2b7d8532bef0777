"""Agency-wide in-app notices stored `recipient_roles` as a JSON null, which the readable scope
(SQL `IS NULL`) never matched, so nobody saw them: store SQL NULL, and turn the old rows into it.

Revision ID: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE notifications.in_app_notifications SET recipient_roles = NULL "
        "WHERE recipient_roles = 'null'::jsonb"
    )


def downgrade() -> None:
    pass  # SQL NULL is what the rows always meant
