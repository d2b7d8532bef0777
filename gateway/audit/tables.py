"""The gateway's own tables, for SQLAlchemy Core (the migrations create them)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

metadata = sa.MetaData(schema="gateway")

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("id", UUID(as_uuid=True), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("agency_id", sa.Text, nullable=False),
    sa.Column("roles", JSONB, nullable=False),
    sa.Column("purpose", sa.Text),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("client_id", UUID(as_uuid=True)),
    sa.Column("resource", sa.Text),
    sa.Column("released", JSONB, nullable=False),
    sa.Column("withheld", JSONB, nullable=False),
    sa.Column("basis", JSONB, nullable=False),
    sa.Column("request_id", sa.Text, nullable=False),
    sa.Column("detail", JSONB, nullable=False),
    sa.Column("prev_hash", sa.Text, nullable=False),
    sa.Column("hash", sa.Text, nullable=False),
)

audit_chain_head = sa.Table(
    "audit_chain_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.Text, nullable=False),
)

breakglass_grants = sa.Table(
    "breakglass_grants",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("client_id", UUID(as_uuid=True), nullable=False),
    sa.Column("client_agency_id", sa.Text, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("agency_id", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("minutes", sa.Integer, nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ended_at", sa.DateTime(timezone=True)),
)
