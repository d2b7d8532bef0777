"""Notifications' tables. API shapes live in `schemas.py`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import Column, DateTime, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

SCHEMA = "notifications"

CHANNELS = ("email", "sms", "webhook", "in_app")
DELIVERY_STATES = ("pending", "sending", "retrying", "succeeded", "dead_lettered", "skipped")


def _now() -> datetime:
    return datetime.now(UTC)


class InAppNotification(SQLModel, table=True):
    """A notice shown in the app to one user, or to the staff of an agency holding some roles.

    It names the event and the record it concerns, never personal data.
    """

    __tablename__ = "in_app_notifications"
    __table_args__ = {"schema": SCHEMA}

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    recipient_agency: str = Field(max_length=100)
    recipient_user: str | None = Field(default=None, max_length=200)
    # None: every member of the agency; else only members holding one of these roles.
    recipient_roles: list[str] | None = Field(
        default=None, sa_column=Column(JSONB(none_as_null=True), nullable=True)
    )
    kind: str = Field(max_length=100)  # the event type it stems from
    resource: str = Field(max_length=200)  # e.g. "client/<uuid>"
    title: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    language: str = Field(default="en", max_length=16)
    source_event_id: uuid.UUID
    source_event_time: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    created_at: datetime = Field(
        default_factory=_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    read_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


class NotificationRead(SQLModel, table=True):
    """That one user has read one notice (agency-wide notices are read per person)."""

    __tablename__ = "notification_reads"
    __table_args__ = {"schema": SCHEMA}

    notification_id: uuid.UUID = Field(primary_key=True)
    user_sub: str = Field(primary_key=True, max_length=200)
    read_at: datetime = Field(default_factory=_now, sa_column=Column(DateTime(timezone=True), nullable=False))


class Recipient(SQLModel, table=True):
    """A member of an agency's staff who may be told things, with how they want to hear them."""

    __tablename__ = "recipients"
    __table_args__ = (UniqueConstraint("agency_id", "user_sub"), {"schema": SCHEMA})

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    agency_id: str = Field(max_length=100)
    user_sub: str = Field(max_length=200)  # the `sub` of the person's tokens
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=32)
    language: str | None = Field(default=None, max_length=16)
    channels: list[str] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    event_types: list[str] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    quiet_hours_start: time | None = None
    quiet_hours_end: time | None = None
    timezone: str | None = Field(default=None, max_length=64)
    active: bool = True
    created_at: datetime = Field(
        default_factory=_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class AgencyPreferences(SQLModel, table=True):
    """An agency's defaults; a recipient's own choices win over them."""

    __tablename__ = "agency_preferences"
    __table_args__ = {"schema": SCHEMA}

    agency_id: str = Field(primary_key=True, max_length=100)
    language: str = Field(default="en", max_length=16)
    channels: list[str] = Field(
        default_factory=lambda: ["in_app", "email"], sa_column=Column(JSONB, nullable=False)
    )
    event_types: list[str] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    quiet_hours_start: time | None = None
    quiet_hours_end: time | None = None
    timezone: str = Field(default="UTC", max_length=64)
    updated_at: datetime = Field(
        default_factory=_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class WebhookEndpoint(SQLModel, table=True):
    """A partner system's receiver. Secrets are stored encrypted with the deployment's secret key."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = {"schema": SCHEMA}

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    agency_id: str = Field(max_length=100)
    url: str = Field(max_length=2048)
    description: str = Field(default="", max_length=500)
    event_types: list[str] = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    secret_encrypted: str
    previous_secret_encrypted: str | None = None
    previous_secret_expires_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    enabled: bool = True
    disabled_reason: str | None = Field(default=None, max_length=200)
    consecutive_failures: int = 0
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(
        default_factory=_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class Delivery(SQLModel, table=True):
    """One message to one recipient over one channel, and where it stands.

    `recipient_key` names the recipient without personal data ("webhook:<endpoint id>",
    "email:<recipient id>", "sms:client:<client id>"); with `source_event_id` it is unique, so an
    event delivered twice to this service still sends once. Contact details are looked up when the
    message is sent, never stored here.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("source_event_id", "recipient_key", name="uq_delivery_event_recipient"),
        {"schema": SCHEMA},
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    agency_id: str = Field(max_length=100)
    channel: str = Field(max_length=16)
    recipient_key: str = Field(max_length=300)
    endpoint_id: uuid.UUID | None = None
    recipient_id: uuid.UUID | None = None
    client_id: uuid.UUID | None = None
    source_event_id: uuid.UUID
    source_event_type: str = Field(max_length=100)
    source_event_time: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    language: str = Field(default="en", max_length=16)
    # What is sent, rendered when the delivery is planned: {"subject", "text", "html"} for email,
    # {"text"} for SMS, {"body"} (the exact JSON string signed) for webhooks. Never personal data.
    message: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    state: str = Field(default="pending", max_length=16)
    attempts: int = 0
    max_attempts: int = 1
    next_attempt_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    lease_until: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    history: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    created_at: datetime = Field(
        default_factory=_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    delivered_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class ReminderClient(SQLModel, table=True):
    """What the reminders know of a client: the newest record version seen, and whether it is closed."""

    __tablename__ = "reminder_clients"
    __table_args__ = {"schema": SCHEMA}

    client_id: uuid.UUID = Field(primary_key=True)
    record_version: int = 0
    closed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


class ReminderKey(SQLModel, table=True):
    """A reminder timer (kind, key) armed for a client, so that all of them can be cancelled at once."""

    __tablename__ = "reminder_keys"
    __table_args__ = {"schema": SCHEMA}

    kind: str = Field(primary_key=True, max_length=50)
    key: str = Field(primary_key=True, max_length=200)
    client_id: uuid.UUID = Field(index=True)


def new_delivery_row(**values: Any) -> dict[str, Any]:
    """The column values of a new delivery without building the model (much cheaper in a fan-out).

    Defaults mirror `Delivery`'s; `values` must name the required fields.
    """
    now = values.get("created_at") or _now()
    row: dict[str, Any] = {
        "id": uuid.uuid4(),
        "endpoint_id": None,
        "recipient_id": None,
        "client_id": None,
        "language": "en",
        "message": {},
        "state": "pending",
        "attempts": 0,
        "max_attempts": 1,
        "next_attempt_at": None,
        "lease_until": None,
        "last_status_code": None,
        "last_error": None,
        "history": [],
        "created_at": now,
        "updated_at": now,
        "delivered_at": None,
    }
    row.update(values)
    return row
