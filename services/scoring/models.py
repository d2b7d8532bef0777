"""Scoring's tables. The API's request and response shapes are in schemas.py."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Float, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

SCHEMA = "scoring"

# The handbook: the baseline RSS is taken at the first counselling session, month 0-1.
BASELINE_WINDOW_DAYS = 30


def _now() -> datetime:
    return datetime.now(UTC)


def _timestamp(nullable: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    return Field(default_factory=_now, sa_column=Column(DateTime(timezone=True), nullable=False))


class ClientRecord(SQLModel, table=True):
    """Which agency holds a client's file, learned from intake's events: the scope of every read."""

    __tablename__ = "clients"
    __table_args__ = {"schema": SCHEMA}

    client_id: uuid.UUID = Field(primary_key=True)
    agency_id: str = Field(max_length=100, index=True)
    status: str = Field(default="open", max_length=20)
    updated_at: datetime = _timestamp()


class ScheduledAssessment(SQLModel, table=True):
    """A dated item of a client's schedule: an RSS round, a follow-up meeting, a monitoring point.

    `round` names the item within its instrument ("baseline", "m03"...), so that recomputing a
    schedule updates the same rows. pending -> due (its timer fired) -> done (held), or cancelled.
    """

    __tablename__ = "scheduled_assessments"
    __table_args__ = (UniqueConstraint("client_id", "instrument", "round"), {"schema": SCHEMA})

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    client_id: uuid.UUID = Field(index=True)
    agency_id: str = Field(max_length=100, index=True)
    instrument: str = Field(max_length=40)  # rss, follow_up, monitoring
    round: str = Field(max_length=40)  # baseline, m01, m06, ...
    kind: str = Field(default="rss", max_length=40)  # rss, follow_up, mid_term_monitoring, final_monitoring
    month: int | None = None  # months after the case plan's start; None for the baseline
    due_on: date
    status: str = Field(default="pending", max_length=20)
    created_at: datetime = _timestamp()
    fell_due_at: datetime | None = _timestamp(nullable=True)


class ReintegrationScore(SQLModel, table=True):
    """One scored RSS administration. The answers are not kept here: intake holds them."""

    __tablename__ = "scores"
    __table_args__ = {"schema": SCHEMA}

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    client_id: uuid.UUID = Field(index=True)
    agency_id: str = Field(max_length=100)
    assessment_id: uuid.UUID = Field(unique=True)
    instrument_version: str = Field(max_length=40)
    economic: float = Field(sa_column=Column(Float(precision=53), nullable=False))
    social: float = Field(sa_column=Column(Float(precision=53), nullable=False))
    psychosocial: float = Field(sa_column=Column(Float(precision=53), nullable=False))
    composite: float = Field(sa_column=Column(Float(precision=53), nullable=False))
    economic_band: str = Field(max_length=20)
    social_band: str = Field(max_length=20)
    psychosocial_band: str = Field(max_length=20)
    composite_band: str = Field(max_length=20)
    dont_know_count: int
    low_accuracy: bool
    assessed_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    created_at: datetime = _timestamp()


class Triage(SQLModel, table=True):
    """A client's follow-up intensity and the rule that set it."""

    __tablename__ = "triage"
    __table_args__ = {"schema": SCHEMA}

    client_id: uuid.UUID = Field(primary_key=True)
    agency_id: str = Field(max_length=100)
    intensity: str = Field(max_length=20)  # intensive, standard, light
    rule: str = Field(max_length=60)
    protection_flags: list[str] = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    assessment_id: uuid.UUID | None = None
    decided_at: datetime = _timestamp()


class CasePlan(SQLModel, table=True):
    """The client's current case (reintegration) plan, as far as the schedule needs it."""

    __tablename__ = "case_plans"
    __table_args__ = {"schema": SCHEMA}

    client_id: uuid.UUID = Field(primary_key=True)
    plan_id: uuid.UUID
    agency_id: str = Field(max_length=100)
    status: str = Field(max_length=30)
    start_date: date | None = None
    case_worker: str | None = Field(default=None, max_length=200)
    assistance_extended: bool = False
    updated_at: datetime = _timestamp()


class DirectoryService(SQLModel, table=True):
    """Scoring's projection of one HSDS service, refreshed from the referrals API on its events."""

    __tablename__ = "directory_services"
    __table_args__ = {"schema": SCHEMA}

    service_id: str = Field(primary_key=True, max_length=200)
    organization_id: str | None = Field(default=None, max_length=200, index=True)
    name: str = Field(max_length=500)
    status: str = Field(default="active", max_length=40)
    terms: list[str] = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    languages: list[str] = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    areas: list[str] = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    eligibility: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    open_slots: int | None = None
    waiting_time_days: int | None = None
    mentors: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    # The service's `updated_at` in referrals when fetched: an older fetch never overwrites a newer one.
    source_updated_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    fetched_at: datetime = _timestamp()


TABLES = SQLModel.metadata
