"""Recipients and preferences, webhook endpoints, deliveries, per-user read state, durable timers.

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from passage.timers import create_timer_table, drop_timer_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

S = "notifications"


def _ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    create_timer_table(op.get_bind(), S)
    op.add_column("in_app_notifications", sa.Column("recipient_roles", JSONB, nullable=True), schema=S)
    op.add_column(
        "in_app_notifications", sa.Column("title", sa.Text, nullable=False, server_default=""), schema=S
    )
    op.add_column(
        "in_app_notifications",
        sa.Column("language", sa.String(16), nullable=False, server_default="en"),
        schema=S,
    )
    # One notice per event and recipient: the agency (all or some roles) or one of its members.
    op.drop_constraint(
        "in_app_notifications_source_event_id_recipient_agency_key", "in_app_notifications", schema=S
    )
    op.create_index(
        "uq_in_app_event_recipient",
        "in_app_notifications",
        ["source_event_id", "recipient_agency", sa.text("coalesce(recipient_user, '')")],
        unique=True,
        schema=S,
    )
    op.create_index(
        "ix_in_app_user_created",
        "in_app_notifications",
        ["recipient_user", sa.text("created_at DESC")],
        schema=S,
        postgresql_where=sa.text("recipient_user IS NOT NULL"),
    )
    op.create_table(
        "notification_reads",
        sa.Column("notification_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("user_sub", sa.String(200), primary_key=True),
        _ts("read_at"),
        schema=S,
    )
    op.create_table(
        "recipients",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("agency_id", sa.String(100), nullable=False),
        sa.Column("user_sub", sa.String(200), nullable=False),
        sa.Column("roles", JSONB, nullable=False),
        sa.Column("email", sa.String(320)),
        sa.Column("phone", sa.String(32)),
        sa.Column("language", sa.String(16)),
        sa.Column("channels", JSONB),
        sa.Column("event_types", JSONB),
        sa.Column("quiet_hours_start", sa.Time),
        sa.Column("quiet_hours_end", sa.Time),
        sa.Column("timezone", sa.String(64)),
        sa.Column("active", sa.Boolean, nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.UniqueConstraint("agency_id", "user_sub"),
        schema=S,
    )
    op.create_table(
        "agency_preferences",
        sa.Column("agency_id", sa.String(100), primary_key=True),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("channels", JSONB, nullable=False),
        sa.Column("event_types", JSONB),
        sa.Column("quiet_hours_start", sa.Time),
        sa.Column("quiet_hours_end", sa.Time),
        sa.Column("timezone", sa.String(64), nullable=False),
        _ts("updated_at"),
        schema=S,
    )
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("agency_id", sa.String(100), nullable=False, index=True),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("event_types", JSONB, nullable=False),
        sa.Column("secret_encrypted", sa.Text, nullable=False),
        sa.Column("previous_secret_encrypted", sa.Text),
        _ts("previous_secret_expires_at", nullable=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("disabled_reason", sa.String(200)),
        sa.Column("consecutive_failures", sa.Integer, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        schema=S,
    )
    op.create_table(
        "deliveries",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("agency_id", sa.String(100), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("recipient_key", sa.String(300), nullable=False),
        sa.Column("endpoint_id", UUID(as_uuid=True)),
        sa.Column("recipient_id", UUID(as_uuid=True)),
        sa.Column("client_id", UUID(as_uuid=True)),
        sa.Column("source_event_id", UUID(as_uuid=True), nullable=False),
        sa.Column("source_event_type", sa.String(100), nullable=False),
        _ts("source_event_time"),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("message", JSONB, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        _ts("next_attempt_at", nullable=True),
        _ts("lease_until", nullable=True),
        sa.Column("last_status_code", sa.Integer),
        sa.Column("last_error", sa.String(500)),
        sa.Column("history", JSONB, nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        _ts("delivered_at", nullable=True),
        sa.UniqueConstraint("source_event_id", "recipient_key", name="uq_delivery_event_recipient"),
        sa.CheckConstraint(
            "state IN ('pending', 'sending', 'retrying', 'succeeded', 'dead_lettered', 'skipped')",
            name="ck_delivery_state",
        ),
        schema=S,
    )
    op.create_index(
        "ix_notifications_deliveries_due",
        "deliveries",
        ["next_attempt_at"],
        schema=S,
        postgresql_where=sa.text("state IN ('pending', 'retrying', 'sending')"),
    )
    op.create_index(
        "ix_notifications_deliveries_agency_state",
        "deliveries",
        ["agency_id", "state", sa.text("created_at DESC"), sa.text("id DESC")],
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("deliveries", schema=S)
    op.drop_table("webhook_endpoints", schema=S)
    op.drop_table("agency_preferences", schema=S)
    op.drop_table("recipients", schema=S)
    op.drop_table("notification_reads", schema=S)
    op.drop_index("ix_in_app_user_created", "in_app_notifications", schema=S)
    op.drop_index("uq_in_app_event_recipient", "in_app_notifications", schema=S)
    op.create_unique_constraint(
        "in_app_notifications_source_event_id_recipient_agency_key",
        "in_app_notifications",
        ["source_event_id", "recipient_agency"],
        schema=S,
    )
    op.drop_column("in_app_notifications", "language", schema=S)
    op.drop_column("in_app_notifications", "title", schema=S)
    op.drop_column("in_app_notifications", "recipient_roles", schema=S)
    drop_timer_table(op.get_bind(), S)
