from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, UniqueConstraint
from sqlmodel import Field, SQLModel

SCHEMA = "notifications"


def _now() -> datetime:
    return datetime.now(UTC)


class InAppNotification(SQLModel, table=True):
    """A notice shown in the app to an agency (all its staff) or to one user.

    It names the event and the record it concerns, never personal data.
    """

    __tablename__ = "in_app_notifications"
    __table_args__ = (UniqueConstraint("source_event_id", "recipient_agency"), {"schema": SCHEMA})

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    recipient_agency: str = Field(max_length=100)
    recipient_user: str | None = Field(default=None, max_length=200)
    kind: str = Field(max_length=100)  # the event type it stems from
    resource: str = Field(max_length=200)  # e.g. "client/<uuid>"
    source_event_id: uuid.UUID
    source_event_time: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    created_at: datetime = Field(
        default_factory=_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    read_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


class InAppNotificationPublic(SQLModel):
    id: uuid.UUID
    kind: str
    resource: str
    created_at: datetime
    read_at: datetime | None
