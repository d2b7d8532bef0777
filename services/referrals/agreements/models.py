"""An agreement (SOP) between two agencies, or one agency and the network, versioned.

A version is proposed by an agency_admin of a party (who signs it by proposing), signed by the
other party, and in force only once every party has signed. Signing a new version of a series
supersedes the version in force. `effective_from`/`effective_to` record when a version was in
force, so that `GET /v1/agreements?between=A,B&at=T` can say which applied at T.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic import (
    Field as PydanticField,
)
from sqlalchemy import Column, DateTime, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from passage.auth import KNOWN_ROLES
from passage.consent import CATEGORIES, PURPOSES
from services.referrals.models import SCHEMA, now

NETWORK = "network"
AgencyId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,99}$")]
ReferralType = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_]{0,59}$")]
ANY_TYPE = "any"


class AgreementStatus(StrEnum):
    PROPOSED = "proposed"
    ACTIVE = "active"
    SUPERSEDED = "superseded"
    EXPIRED = "expired"
    REVOKED = "revoked"


class Direction(BaseModel):
    """What flows from one party to the other under the agreement."""

    model_config = ConfigDict(extra="forbid")

    from_agency: AgencyId
    to_agency: AgencyId
    categories: list[str] = PydanticField(min_length=1, max_length=20)
    purposes: list[str] = PydanticField(min_length=1, max_length=10)
    referral_types: list[ReferralType] = PydanticField(
        min_length=1, max_length=50, description="Referral types covered; `any` covers every type"
    )
    sla_hours: float = PydanticField(
        default=48, gt=0, le=24 * 90, description="Hours the receiver has to accept or reject a referral"
    )
    who_may_refer: list[str] = PydanticField(
        default_factory=lambda: ["case_worker", "supervisor"], min_length=1, max_length=10
    )

    @field_validator("categories")
    @classmethod
    def _categories(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - CATEGORIES)
        if unknown:
            raise ValueError(f"unknown data categories {unknown}; known: {sorted(CATEGORIES)}")
        return sorted(set(value))

    @field_validator("purposes")
    @classmethod
    def _purposes(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - PURPOSES)
        if unknown:
            raise ValueError(f"unknown purposes {unknown}; known: {sorted(PURPOSES)}")
        return sorted(set(value))

    @field_validator("who_may_refer")
    @classmethod
    def _roles(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - KNOWN_ROLES)
        if unknown:
            raise ValueError(f"unknown roles {unknown}; known: {sorted(KNOWN_ROLES)}")
        return sorted(set(value))


class Signature(BaseModel):
    agency_id: str
    signed_by: str
    signed_at: datetime


class AgreementCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "parties": ["harbour-aid", "city-clinic"],
                    "valid_from": "2025-01-01T00:00:00Z",
                    "valid_to": "2026-01-01T00:00:00Z",
                    "directions": [
                        {
                            "from_agency": "harbour-aid",
                            "to_agency": "city-clinic",
                            "categories": ["identity", "contact", "needs", "health"],
                            "purposes": ["referral", "follow_up"],
                            "referral_types": ["health", "psychological_counselling"],
                            "sla_hours": 48,
                            "who_may_refer": ["case_worker", "supervisor"],
                        }
                    ],
                    "on_consent_withdrawn": "on_hold",
                }
            ]
        },
    )

    parties: list[AgencyId] = PydanticField(min_length=2, max_length=2)
    valid_from: datetime
    valid_to: datetime | None = None
    directions: list[Direction] = PydanticField(min_length=1, max_length=2)
    on_consent_withdrawn: Literal["on_hold", "cancel"] = "on_hold"
    supersedes: uuid.UUID | None = PydanticField(
        default=None, description="The agreement this version replaces (same parties) once signed"
    )

    @model_validator(mode="after")
    def _coherent(self) -> AgreementCreate:
        if self.parties[0] == self.parties[1]:
            raise ValueError("an agreement needs two different parties")
        if self.parties[0] == NETWORK:
            raise ValueError("list the agency first and `network` second")
        if self.valid_from.tzinfo is None or (self.valid_to is not None and self.valid_to.tzinfo is None):
            raise ValueError("valid_from and valid_to need a time zone")
        if self.valid_to is not None and self.valid_to <= self.valid_from:
            raise ValueError("valid_to must be after valid_from")
        seen = set()
        for direction in self.directions:
            pair = (direction.from_agency, direction.to_agency)
            if set(pair) != set(self.parties):
                raise ValueError(f"direction {pair[0]} -> {pair[1]} is not between the parties")
            if pair in seen:
                raise ValueError(f"direction {pair[0]} -> {pair[1]} is listed twice")
            seen.add(pair)
        return self


class Agreement(SQLModel, table=True):
    __tablename__ = "agreement"
    __table_args__ = {"schema": SCHEMA}

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    series_id: uuid.UUID = Field(index=True)
    version: int = 1
    parties: list[str] = Field(sa_column=Column(ARRAY(Text), nullable=False))
    party_key: str = Field(index=True)  # the two parties, sorted and joined: one index for `between`
    status: str = AgreementStatus.PROPOSED.value
    valid_from: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    valid_to: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    directions: list[dict[str, Any]] = Field(sa_column=Column(JSONB, nullable=False))
    signatures: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    on_consent_withdrawn: str = "on_hold"
    supersedes: uuid.UUID | None = None
    proposed_by: str
    effective_from: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    effective_to: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    created_at: datetime = Field(
        default_factory=now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class AgreementPublic(BaseModel):
    id: uuid.UUID
    series_id: uuid.UUID
    version: int
    parties: list[str]
    status: AgreementStatus
    valid_from: datetime
    valid_to: datetime | None
    signatures: list[Signature]
    directions: list[Direction]
    on_consent_withdrawn: Literal["on_hold", "cancel"]
    supersedes: uuid.UUID | None
    proposed_by: str
    effective_from: datetime | None
    effective_to: datetime | None
    in_force: bool = PydanticField(
        description="Whether this version applied at the time asked (`at`, or now)"
    )
    created_at: datetime
    updated_at: datetime


def party_key(parties: list[str]) -> str:
    return "|".join(sorted(parties))
