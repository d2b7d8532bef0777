"""The audit log (append-only, hash-chained), its chain head, break-glass grants and timers.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

from passage.timers import create_timer_table, drop_timer_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE gateway.audit_log (
            seq         bigint PRIMARY KEY,
            id          uuid NOT NULL UNIQUE,
            at          timestamptz NOT NULL,
            actor       text NOT NULL,
            agency_id   text NOT NULL,
            roles       jsonb NOT NULL,
            purpose     text,
            action      text NOT NULL,
            outcome     text NOT NULL,
            client_id   uuid,
            resource    text,
            released    jsonb NOT NULL,
            withheld    jsonb NOT NULL,
            basis       jsonb NOT NULL,
            request_id  text NOT NULL,
            detail      jsonb NOT NULL,
            prev_hash   text NOT NULL,
            hash        text NOT NULL
        )
        """
    )
    op.execute(
        "CREATE INDEX ix_gateway_audit_client ON gateway.audit_log (client_id, seq) "
        "WHERE client_id IS NOT NULL"
    )
    op.execute("CREATE INDEX ix_gateway_audit_agency ON gateway.audit_log (agency_id, seq)")
    # One row: the last sequence number and hash. Appends lock it (FOR UPDATE), which serialises
    # them across gateway replicas, and verify compares the log's tail with it (a removed last
    # record shows).
    op.execute(
        """
        CREATE TABLE gateway.audit_chain_head (
            id   int PRIMARY KEY CHECK (id = 1),
            seq  bigint NOT NULL,
            hash text NOT NULL
        )
        """
    )
    op.execute(f"INSERT INTO gateway.audit_chain_head (id, seq, hash) VALUES (1, 0, '{GENESIS}')")  # noqa: S608
    # Triggers, not only privileges: a superuser bypasses GRANTs but not triggers.
    op.execute(
        """
        CREATE FUNCTION gateway.audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the audit log is append-only: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON gateway.audit_log
        FOR EACH ROW EXECUTE FUNCTION gateway.audit_log_refuse_change()
        """
    )
    op.execute(
        """
        CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON gateway.audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION gateway.audit_log_refuse_change()
        """
    )
    op.execute(
        """
        CREATE FUNCTION gateway.audit_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP <> 'UPDATE' OR NEW.seq < OLD.seq OR NEW.id <> OLD.id THEN
                RAISE EXCEPTION 'the audit chain head only moves forward: % refused', TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER audit_head_forward_only BEFORE UPDATE OR DELETE ON gateway.audit_chain_head
        FOR EACH ROW EXECUTE FUNCTION gateway.audit_head_forward_only()
        """
    )
    op.execute(
        """
        CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON gateway.audit_chain_head
        FOR EACH STATEMENT EXECUTE FUNCTION gateway.audit_log_refuse_change()
        """
    )
    op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON gateway.audit_log FROM PUBLIC")
    op.execute("REVOKE DELETE, TRUNCATE ON gateway.audit_chain_head FROM PUBLIC")
    op.execute(
        """
        CREATE TABLE gateway.breakglass_grants (
            id                uuid PRIMARY KEY,
            client_id         uuid NOT NULL,
            client_agency_id  text NOT NULL,
            actor             text NOT NULL,
            agency_id         text NOT NULL,
            reason            text NOT NULL,
            minutes           int NOT NULL CHECK (minutes BETWEEN 1 AND 60),
            started_at        timestamptz NOT NULL,
            expires_at        timestamptz NOT NULL,
            ended_at          timestamptz
        )
        """
    )
    op.execute(
        "CREATE INDEX ix_gateway_breakglass_actor ON gateway.breakglass_grants (actor, client_id, expires_at)"
    )
    create_timer_table(op.get_bind(), "gateway")


def downgrade() -> None:
    drop_timer_table(op.get_bind(), "gateway")
    op.execute("DROP TABLE gateway.breakglass_grants")
    op.execute("DROP TABLE gateway.audit_chain_head")
    op.execute("DROP TABLE gateway.audit_log")
    op.execute("DROP FUNCTION gateway.audit_head_forward_only()")
    op.execute("DROP FUNCTION gateway.audit_log_refuse_change()")
