"""The HSDS directory, data-sharing agreements, referrals and their history, the consent-withdrawal
ledger, durable timers and idempotency keys.

Revision ID: 0002
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR, UUID

from passage.idempotency import create_idempotency_table, drop_idempotency_table
from passage.timers import create_timer_table, drop_timer_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

S = "referrals"


def _ts(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _json(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, JSONB, nullable=nullable)


def _texts(name: str) -> sa.Column[Any]:
    return sa.Column(name, ARRAY(sa.Text), nullable=False)


def _str(name: str, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.String, nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "organization",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        _str("name", False),
        _str("alternate_name"),
        _str("description"),
        _str("email"),
        _str("website"),
        _str("agency_id"),
        _str("managed_by"),
        _json("phones"),
        _json("contacts"),
        _ts("updated_at"),
        schema=S,
    )
    op.create_index("ix_referrals_organization_agency_id", "organization", ["agency_id"], schema=S)
    op.create_table(
        "location",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("organization_id", UUID(as_uuid=True), nullable=True),
        _str("name"),
        _str("alternate_name"),
        _str("description"),
        _str("location_type", False),
        sa.Column("latitude", sa.Float, nullable=True),
        sa.Column("longitude", sa.Float, nullable=True),
        _json("addresses"),
        _json("phones"),
        _json("languages"),
        _ts("updated_at"),
        schema=S,
    )
    op.create_index("ix_referrals_location_organization_id", "location", ["organization_id"], schema=S)
    op.create_table(
        "service",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("organization_id", UUID(as_uuid=True), nullable=False),
        _str("name", False),
        _str("alternate_name"),
        _str("description"),
        _str("url"),
        _str("email"),
        _str("status", False),
        _str("interpretation_services"),
        _str("application_process"),
        _str("fees_description"),
        _str("wait_time"),
        _str("eligibility_description"),
        sa.Column("minimum_age", sa.Integer, nullable=True),
        sa.Column("maximum_age", sa.Integer, nullable=True),
        _str("alert"),
        _str("referral_type", False),
        _json("languages"),
        _texts("language_codes"),
        _json("service_areas"),
        _texts("area_codes"),
        _json("schedules"),
        _json("phones"),
        _json("contacts"),
        _json("cost_options"),
        _json("attributes"),
        _texts("taxonomy_term_ids"),
        _json("mentors", True),
        sa.Column("open_slots", sa.Integer, nullable=True),
        sa.Column("waiting_time_days", sa.Integer, nullable=True),
        _ts("capacity_updated_at", True),
        _ts("updated_at"),
        sa.Column(
            "search",
            TSVECTOR,
            sa.Computed(
                "to_tsvector('simple', coalesce(name, '') || ' ' || coalesce(alternate_name, '') || ' ' "
                "|| coalesce(description, '') || ' ' || coalesce(eligibility_description, ''))",
                persisted=True,
            ),
        ),
        schema=S,
    )
    op.create_index("ix_referrals_service_organization_id", "service", ["organization_id"], schema=S)
    op.create_index("ix_referrals_service_name", "service", ["name", "id"], schema=S)
    for column in ("language_codes", "area_codes", "taxonomy_term_ids", "search"):
        op.create_index(
            f"ix_referrals_service_{column}", "service", [column], schema=S, postgresql_using="gin"
        )
    op.create_table(
        "service_at_location",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("service_id", UUID(as_uuid=True), nullable=False),
        sa.Column("location_id", UUID(as_uuid=True), nullable=False),
        _str("description"),
        _json("schedules"),
        _json("phones"),
        _json("contacts"),
        _ts("updated_at"),
        schema=S,
    )
    op.create_index(
        "ix_referrals_service_at_location_service_id", "service_at_location", ["service_id"], schema=S
    )
    op.create_index(
        "ix_referrals_service_at_location_location_id", "service_at_location", ["location_id"], schema=S
    )
    op.create_table(
        "taxonomy",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        _str("name", False),
        _str("description"),
        _str("uri"),
        _str("version"),
        schema=S,
    )
    op.create_table(
        "taxonomy_term",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        _str("code"),
        _str("name", False),
        _str("description"),
        sa.Column("parent_id", UUID(as_uuid=True), nullable=True),
        _str("taxonomy"),
        sa.Column("taxonomy_id", UUID(as_uuid=True), nullable=True),
        _str("language"),
        _str("term_uri"),
        schema=S,
    )
    op.create_index("ix_referrals_taxonomy_term_code", "taxonomy_term", ["code"], schema=S)

    op.create_table(
        "agreement",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("series_id", UUID(as_uuid=True), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        _texts("parties"),
        _str("party_key", False),
        _str("status", False),
        _ts("valid_from"),
        _ts("valid_to", True),
        _json("directions"),
        _json("signatures"),
        _str("on_consent_withdrawn", False),
        sa.Column("supersedes", UUID(as_uuid=True), nullable=True),
        _str("proposed_by", False),
        _ts("effective_from", True),
        _ts("effective_to", True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.UniqueConstraint("series_id", "version", name="uq_referrals_agreement_series_version"),
        schema=S,
    )
    op.create_index("ix_referrals_agreement_series_id", "agreement", ["series_id"], schema=S)
    op.create_index("ix_referrals_agreement_party_key", "agreement", ["party_key"], schema=S)
    op.create_index(
        "ix_referrals_agreement_parties", "agreement", ["parties"], schema=S, postgresql_using="gin"
    )

    op.create_table(
        "referral",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("client_id", UUID(as_uuid=True), nullable=False),
        _str("sending_agency_id", False),
        _str("receiving_agency_id", False),
        sa.Column("service_id", UUID(as_uuid=True), nullable=True),
        _str("referral_type", False),
        _str("purpose", False),
        _str("reasons", False),
        _str("urgency", False),
        sa.Column("consent_id", UUID(as_uuid=True), nullable=True),
        _str("status", False),
        sa.Column("emergency", sa.Boolean, nullable=False),
        _str("emergency_justification"),
        _str("dpo_review"),
        _str("dpo_review_note"),
        _str("dpo_reviewed_by"),
        sa.Column("agreement_id", UUID(as_uuid=True), nullable=True),
        sa.Column("agreement_version", sa.Integer, nullable=True),
        _texts("categories"),
        sa.Column("sla_hours", sa.Float, nullable=True),
        _ts("due_at", True),
        sa.Column("overdue", sa.Boolean, nullable=False),
        sa.Column("escalation_level", sa.Integer, nullable=False),
        _json("communication_needs"),
        _str("assessment_outline"),
        _json("current_services"),
        _str("referred_by", False),
        _str("client_gender"),
        _str("client_age_band", False),
        sa.Column("parent_referral_id", UUID(as_uuid=True), nullable=True),
        _str("link"),
        _str("held_from"),
        _str("hold_cause"),
        _str("outcome"),
        _str("outcome_code"),
        _ts("requested_at", True),
        _ts("accepted_at", True),
        _ts("closed_at", True),
        _ts("created_at"),
        _ts("updated_at"),
        schema=S,
    )
    for column in ("client_id", "sending_agency_id", "receiving_agency_id", "consent_id"):
        op.create_index(f"ix_referrals_referral_{column}", "referral", [column], schema=S)
    op.create_index("ix_referrals_referral_created", "referral", ["created_at", "id"], schema=S)
    op.create_table(
        "referral_history",
        sa.Column("seq", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("referral_id", UUID(as_uuid=True), nullable=False),
        _str("from_status"),
        _str("to_status", False),
        _str("kind", False),
        _str("actor", False),
        _str("agency_id"),
        _str("reason"),
        _str("outcome"),
        _ts("at"),
        schema=S,
    )
    op.create_index(
        "ix_referrals_referral_history_referral_id", "referral_history", ["referral_id"], schema=S
    )
    op.create_table(
        "consent_withdrawal",
        sa.Column("consent_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("client_id", UUID(as_uuid=True), nullable=False),
        _ts("withdrawn_at"),
        sa.Column("referrals_affected", sa.Integer, nullable=False, server_default="0"),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=S,
    )
    create_timer_table(op.get_bind(), S)
    create_idempotency_table(op.get_bind(), S)


def downgrade() -> None:
    drop_idempotency_table(op.get_bind(), S)
    drop_timer_table(op.get_bind(), S)
    for table in (
        "consent_withdrawal",
        "referral_history",
        "referral",
        "agreement",
        "taxonomy_term",
        "taxonomy",
        "service_at_location",
        "service",
        "location",
        "organization",
    ):
        op.drop_table(table, schema=S)
