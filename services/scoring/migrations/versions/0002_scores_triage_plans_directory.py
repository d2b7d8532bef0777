"""Scores, triage, case plans, the directory projection, the clients' agencies, schedule items'
kind and month, and scoring's durable timers.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from passage.timers import create_timer_table, drop_timer_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

S = "scoring"


def _now() -> sa.Column[Any]:
    return sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    create_timer_table(op.get_bind(), S)
    op.add_column(
        "scheduled_assessments",
        sa.Column("kind", sa.String(40), nullable=False, server_default="rss"),
        schema=S,
    )
    op.add_column("scheduled_assessments", sa.Column("month", sa.Integer, nullable=True), schema=S)
    op.add_column(
        "scheduled_assessments", sa.Column("fell_due_at", sa.DateTime(timezone=True), nullable=True), schema=S
    )
    op.create_table(
        "clients",
        sa.Column("client_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("agency_id", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        _now(),
        schema=S,
    )
    op.create_index("ix_scoring_clients_agency", "clients", ["agency_id"], schema=S)
    op.create_table(
        "scores",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("client_id", UUID(as_uuid=True), nullable=False),
        sa.Column("agency_id", sa.String(100), nullable=False),
        sa.Column("assessment_id", UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("instrument_version", sa.String(40), nullable=False),
        *(
            sa.Column(name, sa.Float(precision=53), nullable=False)
            for name in ("economic", "social", "psychosocial", "composite")
        ),
        *(
            sa.Column(f"{name}_band", sa.String(20), nullable=False)
            for name in ("economic", "social", "psychosocial", "composite")
        ),
        sa.Column("dont_know_count", sa.Integer, nullable=False),
        sa.Column("low_accuracy", sa.Boolean, nullable=False),
        sa.Column("assessed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        schema=S,
    )
    op.create_index("ix_scoring_scores_client", "scores", ["client_id", "assessed_at"], schema=S)
    op.create_table(
        "triage",
        sa.Column("client_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("agency_id", sa.String(100), nullable=False),
        sa.Column("intensity", sa.String(20), nullable=False),
        sa.Column("rule", sa.String(60), nullable=False),
        sa.Column("protection_flags", JSONB, nullable=False),
        sa.Column("assessment_id", UUID(as_uuid=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        schema=S,
    )
    op.create_table(
        "case_plans",
        sa.Column("client_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("plan_id", UUID(as_uuid=True), nullable=False),
        sa.Column("agency_id", sa.String(100), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("start_date", sa.Date, nullable=True),
        sa.Column("case_worker", sa.String(200), nullable=True),
        sa.Column("assistance_extended", sa.Boolean, nullable=False),
        _now(),
        schema=S,
    )
    op.create_table(
        "directory_services",
        sa.Column("service_id", sa.String(200), primary_key=True),
        sa.Column("organization_id", sa.String(200), nullable=True),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("terms", JSONB, nullable=False),
        sa.Column("languages", JSONB, nullable=False),
        sa.Column("areas", JSONB, nullable=False),
        sa.Column("eligibility", JSONB, nullable=False),
        sa.Column("open_slots", sa.Integer, nullable=True),
        sa.Column("waiting_time_days", sa.Integer, nullable=True),
        sa.Column("mentors", JSONB, nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        schema=S,
    )
    op.create_index("ix_scoring_directory_org", "directory_services", ["organization_id"], schema=S)


def downgrade() -> None:
    op.drop_table("directory_services", schema=S)
    op.drop_table("case_plans", schema=S)
    op.drop_table("triage", schema=S)
    op.drop_table("scores", schema=S)
    op.drop_table("clients", schema=S)
    for column in ("fell_due_at", "month", "kind"):
        op.drop_column("scheduled_assessments", column, schema=S)
    drop_timer_table(op.get_bind(), S)
