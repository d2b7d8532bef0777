"""Consent records, aligned with FHIR R5 Consent (standards.md): who granted what, to whom, for which
purposes and data categories, when, how it was obtained, and its withdrawal."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from passage.text import MultiLine, SingleLine
from services.intake.vocab import (
    ConsentDecision,
    ConsentObtainedBy,
    ConsentStatus,
    Purpose,
)

AGENCY = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"


class ConsentCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "grantor": "client",
                    "grantee_agency_id": "harbour-aid",
                    "purposes": ["referral"],
                    "categories": ["identity", "contact", "needs"],
                    "decision": "permit",
                    "obtained_by": "written",
                    "language": "fr",
                }
            ]
        },
    )

    grantor: SingleLine = Field(
        default="client",
        min_length=1,
        max_length=200,
        description='Who gave it: "client", or the guardian / representative (FHIR Consent.grantor)',
    )
    grantee_agency_id: str | None = Field(
        default=None,
        pattern=AGENCY,
        description="The agency that may receive the data; "
        "null = any agency party to an agreement with yours",
    )
    purposes: list[Purpose] = Field(min_length=1, max_length=5)
    categories: list[str] = Field(
        min_length=1,
        max_length=11,
        description='Data categories, or "all" (= every NON-sensitive category; health, psychosocial and '
        "protection must be named)",
    )
    decision: ConsentDecision = "permit"
    period_start: datetime | None = Field(default=None, description="Default: now")
    period_end: datetime | None = Field(default=None, description="Null = until withdrawn")
    obtained_by: ConsentObtainedBy
    language: str | None = Field(default=None, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$")
    witness: SingleLine | None = Field(default=None, min_length=1, max_length=200)

    @field_validator("categories")
    @classmethod
    def _known_categories(cls, value: list[str]) -> list[str]:
        from services.intake.vocab import CATEGORIES

        unknown = [c for c in value if c != "all" and c not in CATEGORIES]
        if unknown:
            raise ValueError(f"unknown categories {unknown}; use {sorted(CATEGORIES)} or 'all'")
        return list(dict.fromkeys(value))

    @field_validator("purposes")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @field_validator("period_start", "period_end")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ConsentCreate:
        start = self.period_start or datetime.now(UTC)
        if self.period_end is not None and self.period_end <= start:
            raise ValueError("period_end must be after period_start")
        if self.obtained_by == "witnessed" and not self.witness:
            raise ValueError("a witnessed consent names its witness")
        if self.obtained_by == "via_guardian" and self.grantor == "client":
            raise ValueError("a consent given via a guardian names the guardian as grantor")
        return self


class ConsentPublic(BaseModel):
    id: uuid.UUID
    client_id: uuid.UUID
    agency_id: str = Field(description="The agency holding the client's file")
    grantor: str
    grantee_agency_id: str | None
    purposes: list[str]
    categories: list[str]
    decision: ConsentDecision
    period_start: datetime
    period_end: datetime | None
    status: ConsentStatus
    obtained_by: ConsentObtainedBy
    language: str | None
    witness: str | None
    recorded_by: str
    withdrawn_at: datetime | None
    withdrawal_reason: str | None
    created_at: datetime


class WithdrawRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "Client asked by phone"}]}
    )

    reason: MultiLine = Field(min_length=1, max_length=2000)


class ClientConsents(BaseModel):
    """One client's consents, with the revision they are current at (read in one snapshot)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "client_id": "3f2b8c9e-4a51-4c1e-9d7a-0b6f2c1e8a10",
                    "consent_revision": 3,
                    "consents": [],
                }
            ]
        }
    )

    client_id: uuid.UUID
    consent_revision: int = Field(
        ge=0,
        description="The client's `consent_revision` in the same snapshot as `consents`: a cache of "
        "these consents is current while the client record carries this revision",
    )
    consents: list[ConsentPublic] = Field(
        description="Every consent of the client (or those in force at `active_at`), oldest first, "
        "as the per-client list orders them"
    )


class ClientConsentsBatch(BaseModel):
    items: list[ClientConsents] = Field(
        description="One item per requested client you may read, in the order the ids were given; "
        "unknown or unreadable ids are left out"
    )
