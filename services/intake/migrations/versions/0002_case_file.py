"""The client file: minimum data set profile, consents, assessments, households, case plans,
follow-ups, the change feed, idempotency keys, and trigram search for duplicates.

Revision ID: 0002
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from passage.idempotency import create_idempotency_table, drop_idempotency_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

S = "intake"


def _ts(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _json(name: str, default: str = "'[]'") -> sa.Column[Any]:
    return sa.Column(name, JSONB, nullable=False, server_default=sa.text(f"{default}::jsonb"))


def upgrade() -> None:
    bind = op.get_bind()
    # pg_trgm lives in public so every schema can use it; creating it twice is harmless.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public")
    for column in ("given_name", "family_name", "birth_year", "sex"):
        op.alter_column("clients", column, nullable=True, schema=S)
    new_columns: tuple[sa.Column[Any], ...] = (
        sa.Column("status", sa.String(20), nullable=False, server_default="open"),
        sa.Column("sensitive", sa.Boolean, nullable=False, server_default=sa.false()),
        _json("sensitivity_reasons"),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("case_worker", sa.String(200), nullable=True),
        sa.Column("gender", sa.String(30), nullable=True),
        sa.Column("area_admin1", sa.String(100), nullable=True),
        _json("vulnerabilities"),
        _json("profile", "'{}'"),
        _json("possible_duplicates"),
        sa.Column("merged_into", UUID(as_uuid=True), nullable=True),
        sa.Column("closure_reason", sa.String(60), nullable=True),
        sa.Column("closure_note", sa.Text, nullable=True),
        _ts("closed_at", True),
        sa.Column("closed_by", sa.String(200), nullable=True),
        _ts("anonymised_at", True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    for new_column in new_columns:
        op.add_column("clients", new_column, schema=S)
    op.execute(
        "UPDATE intake.clients SET profile = jsonb_build_object("
        "'given_name', given_name, 'family_name', family_name, 'birth_year', birth_year, 'sex', sex)"
    )
    op.create_index(
        "ix_intake_clients_agency_created", "clients", ["agency_id", "created_at", "id"], schema=S
    )
    op.create_index("ix_intake_clients_closed_at", "clients", ["closed_at"], schema=S)
    op.execute(
        "CREATE INDEX ix_intake_clients_name_trgm ON intake.clients USING gin "
        "((coalesce(given_name, '') || ' ' || coalesce(family_name, '')) public.gin_trgm_ops)"
    )

    op.create_table(
        "consents",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("client_id", UUID(as_uuid=True), nullable=False, index=True),
        sa.Column("agency_id", sa.String(100), nullable=False),
        sa.Column("grantor", sa.String(200), nullable=False),
        sa.Column("grantee_agency_id", sa.String(100), nullable=True),
        _json("purposes"),
        _json("categories"),
        sa.Column("decision", sa.String(10), nullable=False),
        _ts("period_start"),
        _ts("period_end", True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("obtained_by", sa.String(20), nullable=False),
        sa.Column("language", sa.String(35), nullable=True),
        sa.Column("witness", sa.String(200), nullable=True),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        _ts("withdrawn_at", True),
        sa.Column("withdrawn_by", sa.String(200), nullable=True),
        sa.Column("withdrawal_reason", sa.Text, nullable=True),
        sa.Column("expiry_announced", sa.Boolean, nullable=False, server_default=sa.false()),
        _ts("created_at"),
        schema=S,
    )
    op.create_index(
        "ix_intake_consents_expiring",
        "consents",
        ["period_end"],
        schema=S,
        postgresql_where=sa.text("status = 'active' AND NOT expiry_announced AND period_end IS NOT NULL"),
    )
    op.create_table(
        "assessments",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("client_id", UUID(as_uuid=True), nullable=False, index=True),
        sa.Column("agency_id", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("instrument_version", sa.String(40), nullable=False),
        _json("answers", "'{}'"),
        _json("protection_flags"),
        sa.Column("notes", sa.Text, nullable=True),
        sa.Column("conducted_on", sa.Date, nullable=True),
        sa.Column("submitted_by", sa.String(200), nullable=False),
        _ts("submitted_at"),
        schema=S,
    )
    op.create_table(
        "households",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("agency_id", sa.String(100), nullable=False),
        sa.Column("head_client_id", UUID(as_uuid=True), nullable=False, index=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        _ts("created_at"),
        schema=S,
    )
    op.create_table(
        "household_members",
        sa.Column("household_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("client_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("relationship", sa.String(40), nullable=False),
        sa.Column("dependant", sa.Boolean, nullable=False, server_default=sa.false()),
        _ts("added_at"),
        schema=S,
    )
    op.create_index("ix_intake_household_members_client", "household_members", ["client_id"], schema=S)
    op.create_table(
        "case_plans",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("client_id", UUID(as_uuid=True), nullable=False, index=True),
        sa.Column("agency_id", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("start_date", sa.Date, nullable=True),
        sa.Column("case_worker", sa.String(200), nullable=True),
        sa.Column("assistance_extended", sa.Boolean, nullable=False, server_default=sa.false()),
        _json("goals"),
        _json("planned_services"),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_by", sa.String(200), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        schema=S,
    )
    op.create_table(
        "case_plan_reviews",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("plan_id", UUID(as_uuid=True), nullable=False, index=True),
        sa.Column("reviewed_on", sa.Date, nullable=False),
        sa.Column("reviewed_by", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(30), nullable=False),
        sa.Column("notes", sa.Text, nullable=True),
        _ts("created_at"),
        schema=S,
    )
    op.create_table(
        "followups",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("client_id", UUID(as_uuid=True), nullable=False, index=True),
        sa.Column("agency_id", sa.String(100), nullable=False),
        sa.Column("held_on", sa.Date, nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        _json("points_seen"),
        sa.Column("notes", sa.Text, nullable=True),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        _ts("created_at"),
        schema=S,
    )
    op.create_table(
        "changes",
        sa.Column("seq", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("agency_id", sa.String(100), nullable=False),
        sa.Column("client_id", UUID(as_uuid=True), nullable=False),
        sa.Column("resource", sa.String(20), nullable=False),
        sa.Column("resource_id", UUID(as_uuid=True), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("changed_by", sa.String(200), nullable=False),
        _ts("changed_at"),
        schema=S,
    )
    op.create_index("ix_intake_changes_agency_seq", "changes", ["agency_id", "seq"], schema=S)
    create_idempotency_table(bind, S)


def downgrade() -> None:
    drop_idempotency_table(op.get_bind(), S)
    for table in (
        "changes",
        "followups",
        "case_plan_reviews",
        "case_plans",
        "household_members",
        "households",
        "assessments",
        "consents",
    ):
        op.drop_table(table, schema=S)
    op.execute("DROP INDEX IF EXISTS intake.ix_intake_clients_name_trgm")
    op.drop_index("ix_intake_clients_closed_at", "clients", schema=S)
    op.drop_index("ix_intake_clients_agency_created", "clients", schema=S)
    for column in (
        "status",
        "sensitive",
        "sensitivity_reasons",
        "version",
        "case_worker",
        "gender",
        "area_admin1",
        "vulnerabilities",
        "profile",
        "possible_duplicates",
        "merged_into",
        "closure_reason",
        "closure_note",
        "closed_at",
        "closed_by",
        "anonymised_at",
        "updated_at",
    ):
        op.drop_column("clients", column, schema=S)
