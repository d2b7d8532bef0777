"""Directory tables. The core HSDS entities are rows; their small dependent collections (phones,
contacts, schedules, languages, service areas, cost options, addresses, attributes, mentors) are
JSONB on the row that owns them, with the codes searched on copied into indexed arrays."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Computed, DateTime, Integer, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlmodel import Field, SQLModel

from services.referrals.models import SCHEMA


def now() -> datetime:
    return datetime.now(UTC)


def _json(default: Any = None) -> Any:
    return Field(
        default_factory=list if default is None else default, sa_column=Column(JSONB, nullable=False)
    )


def _codes() -> Any:
    return Field(default_factory=list, sa_column=Column(ARRAY(Text), nullable=False))


def _stamp() -> Any:
    return Field(default_factory=now, sa_column=Column(DateTime(timezone=True), nullable=False))


class Organization(SQLModel, table=True):
    __tablename__ = "organization"
    __table_args__ = {"schema": SCHEMA}

    id: uuid.UUID = Field(primary_key=True)
    name: str
    alternate_name: str | None = None
    description: str | None = None
    email: str | None = None
    website: str | None = None
    # The Passage agency that runs this organization's services (receives referrals for them).
    agency_id: str | None = Field(default=None, index=True)
    # Which agency's admin imported it: only that agency (or a coordinator) may overwrite it.
    managed_by: str | None = None
    phones: list[dict[str, Any]] = _json()
    contacts: list[dict[str, Any]] = _json()
    updated_at: datetime = _stamp()


class Location(SQLModel, table=True):
    __tablename__ = "location"
    __table_args__ = {"schema": SCHEMA}

    id: uuid.UUID = Field(primary_key=True)
    organization_id: uuid.UUID | None = Field(default=None, index=True)
    name: str | None = None
    alternate_name: str | None = None
    description: str | None = None
    location_type: str = "physical"
    latitude: float | None = None
    longitude: float | None = None
    addresses: list[dict[str, Any]] = _json()
    phones: list[dict[str, Any]] = _json()
    languages: list[dict[str, Any]] = _json()
    updated_at: datetime = _stamp()


class Service(SQLModel, table=True):
    __tablename__ = "service"
    __table_args__ = {"schema": SCHEMA}

    id: uuid.UUID = Field(primary_key=True)
    organization_id: uuid.UUID = Field(index=True)
    name: str
    alternate_name: str | None = None
    description: str | None = None
    url: str | None = None
    email: str | None = None
    status: str = "active"
    interpretation_services: str | None = None
    application_process: str | None = None
    fees_description: str | None = None
    wait_time: str | None = None
    eligibility_description: str | None = None
    minimum_age: int | None = None
    maximum_age: int | None = None
    alert: str | None = None
    # Passage: the referral type an agreement must cover to refer to this service.
    referral_type: str = "general"
    languages: list[dict[str, Any]] = _json()
    language_codes: list[str] = _codes()
    service_areas: list[dict[str, Any]] = _json()
    area_codes: list[str] = _codes()
    schedules: list[dict[str, Any]] = _json()
    phones: list[dict[str, Any]] = _json()
    contacts: list[dict[str, Any]] = _json()
    cost_options: list[dict[str, Any]] = _json()
    attributes: list[dict[str, Any]] = _json()
    taxonomy_term_ids: list[str] = _codes()
    mentors: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    open_slots: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    waiting_time_days: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    capacity_updated_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    updated_at: datetime = _stamp()
    search: str | None = Field(
        default=None,
        sa_column=Column(
            TSVECTOR,
            Computed(
                "to_tsvector('simple', coalesce(name, '') || ' ' || coalesce(alternate_name, '') || ' ' "
                "|| coalesce(description, '') || ' ' || coalesce(eligibility_description, ''))",
                persisted=True,
            ),
        ),
    )


class ServiceAtLocation(SQLModel, table=True):
    __tablename__ = "service_at_location"
    __table_args__ = {"schema": SCHEMA}

    id: uuid.UUID = Field(primary_key=True)
    service_id: uuid.UUID = Field(index=True)
    location_id: uuid.UUID = Field(index=True)
    description: str | None = None
    schedules: list[dict[str, Any]] = _json()
    phones: list[dict[str, Any]] = _json()
    contacts: list[dict[str, Any]] = _json()
    updated_at: datetime = _stamp()


class Taxonomy(SQLModel, table=True):
    __tablename__ = "taxonomy"
    __table_args__ = {"schema": SCHEMA}

    id: uuid.UUID = Field(primary_key=True)
    name: str
    description: str | None = None
    uri: str | None = None
    version: str | None = None


class TaxonomyTerm(SQLModel, table=True):
    __tablename__ = "taxonomy_term"
    __table_args__ = {"schema": SCHEMA}

    id: uuid.UUID = Field(primary_key=True)
    code: str | None = Field(default=None, index=True)
    name: str
    description: str | None = None
    parent_id: uuid.UUID | None = None
    taxonomy: str | None = None
    taxonomy_id: uuid.UUID | None = None
    language: str | None = None
    term_uri: str | None = None
