"""The outbox and inbox tables every component keeps in its own schema."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID


@dataclass(frozen=True)
class BusTables:
    schema: str
    outbox: sa.Table
    inbox: sa.Table

    @property
    def notify_channel(self) -> str:
        return f"passage_outbox_{self.schema}"


def _define(metadata: sa.MetaData, schema: str) -> tuple[sa.Table, sa.Table]:
    outbox = sa.Table(
        "outbox",
        metadata,
        sa.Column("seq", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("headers", JSONB, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Index(f"ix_{schema}_outbox_unpublished", "seq", postgresql_where=sa.text("published_at IS NULL")),
        schema=schema,
    )
    inbox = sa.Table(
        "inbox",
        metadata,
        sa.Column("consumer", sa.Text, primary_key=True),
        sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("event_type", sa.Text, nullable=False),
        # processed: the effect committed with this row. parked: it failed every try and
        # waits for a person (see the consumer's max_deliver); it is never silently dropped.
        sa.Column("status", sa.Text, nullable=False, server_default="processed"),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("headers", JSONB, nullable=True),
        sa.Column("payload", sa.LargeBinary, nullable=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=schema,
    )
    return outbox, inbox


@cache
def bus_tables(schema: str) -> BusTables:
    outbox, inbox = _define(sa.MetaData(), schema)
    return BusTables(schema=schema, outbox=outbox, inbox=inbox)


def create_bus_tables(bind: sa.Connection, schema: str) -> None:
    """For a component's first migration. Later changes to these tables get migrations of their own."""
    outbox, inbox = _define(sa.MetaData(), schema)
    outbox.create(bind)
    inbox.create(bind)


def drop_bus_tables(bind: sa.Connection, schema: str) -> None:
    outbox, inbox = _define(sa.MetaData(), schema)
    inbox.drop(bind)
    outbox.drop(bind)
