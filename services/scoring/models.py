from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from sqlalchemy import Column, DateTime, UniqueConstraint
from sqlmodel import Field, SQLModel

SCHEMA = "scoring"

# The handbook: the baseline RSS is taken at the first counselling session, month 0-1.
BASELINE_WINDOW_DAYS = 30


def _now() -> datetime:
    return datetime.now(UTC)


class ScheduledAssessment(SQLModel, table=True):
    """An assessment a client is due for. Created pending; done when the assessment arrives."""

    __tablename__ = "scheduled_assessments"
    __table_args__ = (UniqueConstraint("client_id", "instrument", "round"), {"schema": SCHEMA})

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    client_id: uuid.UUID = Field(index=True)
    agency_id: str = Field(max_length=100, index=True)
    instrument: str = Field(max_length=40)  # "rss"
    round: str = Field(max_length=40)  # "baseline", "mid_term", "final", ...
    due_on: date
    status: str = Field(default="pending", max_length=20)
    created_at: datetime = Field(
        default_factory=_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class ScheduledAssessmentPublic(SQLModel):
    id: uuid.UUID
    client_id: uuid.UUID
    instrument: str
    round: str
    due_on: date
    status: str


class ClientSchedule(SQLModel):
    client_id: uuid.UUID
    items: list[ScheduledAssessmentPublic]
