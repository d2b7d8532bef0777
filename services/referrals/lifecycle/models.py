"""Referral tables and schemas. A referral carries what seed 004's referral form asks for (referrer
and date, the consent obtained before referring, reasons, urgency, communication needs, an outline
of the assessment, current services, the service requested), and the client's gender and age band
as they were when it was sent (for statistics; never names)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints
from pydantic import Field as PydanticField
from sqlalchemy import BigInteger, Column, DateTime, Identity, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from passage.text import MultiLine, SingleLine
from services.referrals.agreements.models import AgencyId, ReferralType
from services.referrals.models import SCHEMA, now


class Status(StrEnum):
    """FHIR Task statuses as the Gravity closed-loop referral uses them."""

    DRAFT = "draft"
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    IN_PROGRESS = "in-progress"
    ON_HOLD = "on-hold"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"
    ENTERED_IN_ERROR = "entered-in-error"


OPEN = frozenset({Status.DRAFT, Status.REQUESTED, Status.ACCEPTED, Status.IN_PROGRESS})
CLOSED = frozenset(
    {Status.REJECTED, Status.COMPLETED, Status.CANCELLED, Status.FAILED, Status.ENTERED_IN_ERROR}
)


class Urgency(StrEnum):
    """FHIR request priority."""

    ROUTINE = "routine"
    URGENT = "urgent"
    ASAP = "asap"
    STAT = "stat"


Reasons = Annotated[MultiLine, StringConstraints(min_length=1, max_length=4000)]
Note = Annotated[MultiLine, StringConstraints(max_length=4000)]
OutcomeCode = Literal["successful", "not_successful"]


class CommunicationNeeds(BaseModel):
    model_config = ConfigDict(extra="forbid")

    preferred_language: (
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")] | None
    ) = None
    interpreter_needed: bool = False
    notes: Note | None = None


class ReferralCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "client_id": "6f1c2b9e-1d3a-4f5e-8a7b-0c9d8e7f6a5b",
                    "service_id": "0b6f7c1e-6a31-4c55-9a86-2d0f62f8a101",
                    "receiving_agency_id": "city-clinic",
                    "purpose": "referral",
                    "reasons": "Persistent sleep problems and intrusive memories since return.",
                    "urgency": "routine",
                    "consent_id": "2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d",
                    "communication_needs": {"preferred_language": "fr", "interpreter_needed": False},
                }
            ]
        },
    )

    client_id: uuid.UUID
    service_id: uuid.UUID
    receiving_agency_id: AgencyId
    purpose: Literal["referral", "emergency"] = "referral"
    reasons: Reasons
    urgency: Urgency = Urgency.ROUTINE
    consent_id: uuid.UUID | None = PydanticField(
        default=None, description="The consent obtained before referring; may be omitted only in an emergency"
    )
    referral_type: ReferralType | None = PydanticField(
        default=None, description="Defaults to the service's referral type in the directory"
    )
    emergency_justification: Annotated[MultiLine, StringConstraints(max_length=4000)] | None = PydanticField(
        default=None,
        description="Required with purpose `emergency`: why life is at risk and consent cannot wait",
    )
    communication_needs: CommunicationNeeds = CommunicationNeeds()
    assessment_outline: Note | None = None
    current_services: list[Annotated[SingleLine, StringConstraints(max_length=200)]] = PydanticField(
        default_factory=list, max_length=50
    )
    draft: bool = PydanticField(default=False, description="Save as a draft the receiver does not see yet")


class ReferBack(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service_id: uuid.UUID | None = PydanticField(
        default=None, description="A service of the original sender, if any"
    )
    reasons: Reasons
    urgency: Urgency = Urgency.ROUTINE


class Transfer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    receiving_agency_id: AgencyId
    service_id: uuid.UUID
    reasons: Reasons
    urgency: Urgency = Urgency.ROUTINE
    consent_id: uuid.UUID = PydanticField(description="A consent that covers the new receiving agency")


class TransitionRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"to": "rejected", "reason": "No capacity until next month"}]},
    )

    to: Status
    reason: Note | None = None
    outcome: Note | None = None
    outcome_code: OutcomeCode | None = None
    consent_id: uuid.UUID | None = PydanticField(
        default=None,
        description="When resuming a referral held because consent was withdrawn: the new consent",
    )


class DpoReview(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[MultiLine, StringConstraints(min_length=1, max_length=4000)]
    justified: bool


class Referral(SQLModel, table=True):
    __tablename__ = "referral"
    __table_args__ = {"schema": SCHEMA}

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    client_id: uuid.UUID = Field(index=True)
    sending_agency_id: str = Field(index=True)
    receiving_agency_id: str = Field(index=True)
    service_id: uuid.UUID | None = None
    referral_type: str
    purpose: str
    reasons: str
    urgency: str
    consent_id: uuid.UUID | None = Field(default=None, index=True)
    status: str
    emergency: bool = False
    emergency_justification: str | None = None
    dpo_review: str | None = None  # pending | justified | not_justified
    dpo_review_note: str | None = None
    dpo_reviewed_by: str | None = None
    agreement_id: uuid.UUID | None = None
    agreement_version: int | None = None
    categories: list[str] = Field(default_factory=list, sa_column=Column(ARRAY(Text), nullable=False))
    sla_hours: float | None = None
    due_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    overdue: bool = False
    escalation_level: int = 0
    communication_needs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    assessment_outline: str | None = None
    current_services: list[str] = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    referred_by: str
    client_gender: str | None = None
    client_age_band: str = "unknown"
    parent_referral_id: uuid.UUID | None = None
    link: str | None = None  # refer_back | transfer
    held_from: str | None = None
    hold_cause: str | None = None
    outcome: str | None = None
    outcome_code: str | None = None
    requested_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    accepted_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    closed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    created_at: datetime = Field(
        default_factory=now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class ReferralHistory(SQLModel, table=True):
    __tablename__ = "referral_history"
    __table_args__ = {"schema": SCHEMA}

    seq: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    referral_id: uuid.UUID = Field(index=True)
    from_status: str | None = None
    to_status: str
    kind: str = "transition"  # transition | escalation
    actor: str
    agency_id: str | None = None
    reason: str | None = None
    outcome: str | None = None
    at: datetime = Field(default_factory=now, sa_column=Column(DateTime(timezone=True), nullable=False))


class ConsentWithdrawal(SQLModel, table=True):
    """A consent withdrawal already cascaded: the second delivery of the same news changes nothing."""

    __tablename__ = "consent_withdrawal"
    __table_args__ = {"schema": SCHEMA}

    consent_id: uuid.UUID = Field(primary_key=True)
    client_id: uuid.UUID
    withdrawn_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    referrals_affected: int = 0
    applied_at: datetime = Field(
        default_factory=now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class HistoryEntry(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    from_: str | None = PydanticField(alias="from")
    to: str
    kind: str
    actor: str
    agency_id: str | None
    reason: str | None
    outcome: str | None
    at: datetime


class ReferralPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    client_id: uuid.UUID
    sending_agency_id: str
    receiving_agency_id: str
    service_id: uuid.UUID | None
    referral_type: str
    purpose: str
    reasons: str
    urgency: str
    consent_id: uuid.UUID | None
    status: Status
    emergency: bool
    emergency_justification: str | None
    dpo_review: str | None
    dpo_review_note: str | None
    agreement_id: uuid.UUID | None
    agreement_version: int | None
    categories: list[str]
    sla_hours: float | None
    due_at: datetime | None
    overdue: bool
    escalation_level: int
    communication_needs: dict[str, Any]
    assessment_outline: str | None
    current_services: list[str]
    referred_by: str
    parent_referral_id: uuid.UUID | None
    link: str | None
    hold_cause: str | None
    outcome: str | None
    outcome_code: str | None
    requested_at: datetime | None
    accepted_at: datetime | None
    closed_at: datetime | None
    history: list[HistoryEntry] = []
    created_at: datetime
    updated_at: datetime
