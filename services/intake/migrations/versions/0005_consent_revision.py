"""`clients.consent_revision`: moves with every change to the client's consents.

Bumped (`consent_revision = consent_revision + 1`, in the same transaction) when a consent is
granted, withdrawn, expires (the timer), moves in a merge (both clients) or is scrubbed by
anonymisation. The gateway keeps a client's consents cached while the revision it reads on the
client record is unchanged. Not the ETag (`version`): a consent is not an edit of the file.

Revision ID: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

S = "intake"


def upgrade() -> None:
    # A constant default: PostgreSQL adds the column without rewriting the table.
    op.add_column(
        "clients",
        sa.Column("consent_revision", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        schema=S,
    )


def downgrade() -> None:
    op.drop_column("clients", "consent_revision", schema=S)
