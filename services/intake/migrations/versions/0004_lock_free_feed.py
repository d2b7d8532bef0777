"""A change feed that needs no lock, and duplicate search that uses its indexes.

- `changes.txid`: the writing transaction's id (xid8 as bigint). The feed is ordered by
  (txid, seq) and only serves rows whose transaction is older than the oldest one still running
  (`pg_snapshot_xmin`), so writers never wait for each other and a reader never skips a row that
  commits later (see `repository.changes`).
- `clients.search_name` (generated), `phone_key`, `document_keys`: normalised keys for duplicate
  detection: a trigram GIN on the name the query now matches exactly (the old index was on an
  expression the query, with bound parameters, never matched), (agency_id, phone_key), and a GIN
  on the document numbers.

Revision ID: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

S = "intake"
CURRENT_TXID = "(pg_current_xact_id()::text::bigint)"


def upgrade() -> None:
    # Rows written before this migration take the migration's own transaction id: they stay
    # before every later row, in their seq order.
    op.execute(f"ALTER TABLE intake.changes ADD COLUMN txid bigint NOT NULL DEFAULT {CURRENT_TXID}")
    op.drop_index("ix_intake_changes_agency_seq", "changes", schema=S)
    op.create_index("ix_intake_changes_agency_txid_seq", "changes", ["agency_id", "txid", "seq"], schema=S)
    op.create_index("ix_intake_changes_client", "changes", ["client_id", "seq"], schema=S)

    op.execute("DROP INDEX IF EXISTS intake.ix_intake_clients_name_trgm")
    op.execute(
        "ALTER TABLE intake.clients ADD COLUMN search_name text GENERATED ALWAYS AS "
        "(coalesce(given_name, '') || ' ' || coalesce(family_name, '')) STORED"
    )
    op.execute(
        "CREATE INDEX ix_intake_clients_search_name_trgm ON intake.clients USING gin "
        "(search_name public.gin_trgm_ops)"
    )
    op.add_column("clients", sa.Column("phone_key", sa.String(32), nullable=True), schema=S)
    op.add_column(
        "clients",
        sa.Column("document_keys", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
        schema=S,
    )
    op.create_index(
        "ix_intake_clients_agency_phone",
        "clients",
        ["agency_id", "phone_key"],
        schema=S,
        postgresql_where=sa.text("phone_key IS NOT NULL"),
    )
    op.execute("CREATE INDEX ix_intake_clients_documents ON intake.clients USING gin (document_keys)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS intake.ix_intake_clients_documents")
    op.drop_index("ix_intake_clients_agency_phone", "clients", schema=S)
    op.drop_column("clients", "document_keys", schema=S)
    op.drop_column("clients", "phone_key", schema=S)
    op.execute("DROP INDEX IF EXISTS intake.ix_intake_clients_search_name_trgm")
    op.drop_column("clients", "search_name", schema=S)
    op.execute(
        "CREATE INDEX ix_intake_clients_name_trgm ON intake.clients USING gin "
        "((coalesce(given_name, '') || ' ' || coalesce(family_name, '')) public.gin_trgm_ops)"
    )
    op.drop_index("ix_intake_changes_client", "changes", schema=S)
    op.drop_index("ix_intake_changes_agency_txid_seq", "changes", schema=S)
    op.create_index("ix_intake_changes_agency_seq", "changes", ["agency_id", "seq"], schema=S)
    op.drop_column("changes", "txid", schema=S)
