"""Intake's tables. The API shapes (Create/Update/Public) are in `schemas.py`.

A client's personal fields live in one JSONB document (`profile`), validated on the way in by the
schemas; the few fields that queries need (names for duplicate search, birth year, sex and gender
for statistics) are also kept as columns, written from the profile in one place (service).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, FetchedValue, String, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

SCHEMA = "intake"


def _now() -> datetime:
    return datetime.now(UTC)


def _ts(nullable: bool = False) -> Any:
    return Field(default_factory=_now if not nullable else None, sa_type=DateTime(timezone=True))


def _json(default: Any) -> Any:
    return Field(default_factory=default, sa_column=Column(JSONB, nullable=False))


# Python functions, not the builtins `list`/`dict`: pydantic inspects a default factory's signature
# on every instantiation, and a builtin's signature is parsed from text each time (measurable
# on the registration path).
def _list() -> list[Any]:
    return []


def _dict() -> dict[str, Any]:
    return {}


def _uuid() -> uuid.UUID:
    return uuid.uuid4()


class Client(SQLModel, table=True):
    __tablename__ = "clients"
    __table_args__ = {"schema": SCHEMA}

    id: uuid.UUID = Field(default_factory=_uuid, primary_key=True)
    agency_id: str = Field(index=True, max_length=100)
    status: str = Field(default="open", sa_type=String(20))  # open | closed | anonymised
    sensitive: bool = False
    sensitivity_reasons: list[str] = _json(_list)
    version: int = 1
    # Moves with every change to the client's consents, never with the file (see migration 0005);
    # written only by `repository.bump_consent_revision` (an atomic + 1).
    consent_revision: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    registered_by: str = Field(max_length=200)
    case_worker: str | None = Field(default=None, max_length=200)  # the responsible case worker's sub
    # Mirrors of profile fields, for queries (duplicates, statistics). Null once anonymised.
    given_name: str | None = Field(default=None, max_length=200)
    family_name: str | None = Field(default=None, max_length=200)
    birth_year: int | None = None
    sex: str | None = Field(default=None, sa_type=String(20))
    gender: str | None = Field(default=None, sa_type=String(30))
    area_admin1: str | None = Field(default=None, max_length=100)
    vulnerabilities: list[str] = _json(_list)
    profile: dict[str, Any] = _json(_dict)
    # Normalised keys for duplicate search (written from the profile with the mirrors above);
    # the name key `search_name` is a generated column, never written (see migration 0004).
    phone_key: str | None = Field(default=None, max_length=32)
    document_keys: list[str] = Field(
        default_factory=_list,
        sa_column=Column(ARRAY(Text), nullable=False, server_default="{}"),
    )
    possible_duplicates: list[str] = _json(_list)
    merged_into: uuid.UUID | None = None
    closure_reason: str | None = Field(default=None, max_length=60)
    closure_note: str | None = None
    closed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    closed_by: str | None = Field(default=None, max_length=200)
    anonymised_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    created_at: datetime = Field(default_factory=_now, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=_now, sa_type=DateTime(timezone=True))


class Consent(SQLModel, table=True):
    __tablename__ = "consents"
    __table_args__ = {"schema": SCHEMA}

    id: uuid.UUID = Field(default_factory=_uuid, primary_key=True)
    client_id: uuid.UUID = Field(index=True)
    agency_id: str = Field(max_length=100)
    grantor: str = Field(max_length=200)
    grantee_agency_id: str | None = Field(default=None, max_length=100)
    purposes: list[str] = _json(_list)
    categories: list[str] = _json(_list)
    decision: str = Field(sa_type=String(10))
    period_start: datetime = Field(sa_type=DateTime(timezone=True))
    period_end: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    status: str = Field(default="active", sa_type=String(20))  # active | withdrawn (expired is computed)
    obtained_by: str = Field(sa_type=String(20))
    language: str | None = Field(default=None, max_length=35)
    witness: str | None = Field(default=None, max_length=200)
    recorded_by: str = Field(max_length=200)
    withdrawn_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    withdrawn_by: str | None = Field(default=None, max_length=200)
    withdrawal_reason: str | None = None
    expiry_announced: bool = False
    created_at: datetime = Field(default_factory=_now, sa_type=DateTime(timezone=True))


class Assessment(SQLModel, table=True):
    __tablename__ = "assessments"
    __table_args__ = {"schema": SCHEMA}

    id: uuid.UUID = Field(default_factory=_uuid, primary_key=True)
    client_id: uuid.UUID = Field(index=True)
    agency_id: str = Field(max_length=100)
    kind: str = Field(sa_type=String(20))
    instrument_version: str = Field(max_length=40)
    answers: dict[str, Any] = _json(_dict)
    protection_flags: list[str] = _json(_list)
    notes: str | None = None
    conducted_on: date | None = None
    submitted_by: str = Field(max_length=200)
    submitted_at: datetime = Field(default_factory=_now, sa_type=DateTime(timezone=True))


class Household(SQLModel, table=True):
    __tablename__ = "households"
    __table_args__ = {"schema": SCHEMA}

    id: uuid.UUID = Field(default_factory=_uuid, primary_key=True)
    agency_id: str = Field(max_length=100)
    head_client_id: uuid.UUID = Field(index=True)
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=_now, sa_type=DateTime(timezone=True))


class HouseholdMember(SQLModel, table=True):
    __tablename__ = "household_members"
    __table_args__ = {"schema": SCHEMA}

    household_id: uuid.UUID = Field(primary_key=True)
    client_id: uuid.UUID = Field(primary_key=True)
    relationship: str = Field(max_length=40)
    dependant: bool = False
    added_at: datetime = Field(default_factory=_now, sa_type=DateTime(timezone=True))


class CasePlan(SQLModel, table=True):
    __tablename__ = "case_plans"
    __table_args__ = {"schema": SCHEMA}

    id: uuid.UUID = Field(default_factory=_uuid, primary_key=True)
    client_id: uuid.UUID = Field(index=True)
    agency_id: str = Field(max_length=100)
    status: str = Field(default="draft", sa_type=String(20))
    start_date: date | None = None
    case_worker: str | None = Field(default=None, max_length=200)
    assistance_extended: bool = False
    goals: list[dict[str, Any]] = _json(_list)
    planned_services: list[dict[str, Any]] = _json(_list)
    version: int = 1
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=_now, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=_now, sa_type=DateTime(timezone=True))


class PlanReview(SQLModel, table=True):
    __tablename__ = "case_plan_reviews"
    __table_args__ = {"schema": SCHEMA}

    id: uuid.UUID = Field(default_factory=_uuid, primary_key=True)
    plan_id: uuid.UUID = Field(index=True)
    reviewed_on: date
    reviewed_by: str = Field(max_length=200)
    outcome: str = Field(sa_type=String(30))
    notes: str | None = None
    created_at: datetime = Field(default_factory=_now, sa_type=DateTime(timezone=True))


class Followup(SQLModel, table=True):
    __tablename__ = "followups"
    __table_args__ = {"schema": SCHEMA}

    id: uuid.UUID = Field(default_factory=_uuid, primary_key=True)
    client_id: uuid.UUID = Field(index=True)
    agency_id: str = Field(max_length=100)
    held_on: date
    channel: str = Field(sa_type=String(20))
    points_seen: list[str] = _json(_list)
    notes: str | None = None
    recorded_by: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=_now, sa_type=DateTime(timezone=True))


class Change(SQLModel, table=True):
    """The delta feed: one row per change to a client's file. Written with a Core insert
    (`repository.record_change`) so that `txid` takes its server default."""

    __tablename__ = "changes"
    __table_args__ = {"schema": SCHEMA}

    seq: int | None = Field(default=None, primary_key=True)
    # The writing transaction's id (xid8 as bigint), a server default set by migration 0004:
    # the feed's order (see repository.changes).
    txid: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=False, server_default=FetchedValue())
    )
    agency_id: str = Field(max_length=100)
    client_id: uuid.UUID
    resource: str = Field(sa_type=String(20))
    resource_id: uuid.UUID
    action: str = Field(sa_type=String(20))
    changed_by: str = Field(max_length=200)
    changed_at: datetime = Field(default_factory=_now, sa_type=DateTime(timezone=True))
