"""API shapes of case work: assessments, households, case (reintegration) plans, follow-ups (seed 002)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from passage.text import MultiLine, SingleLine
from services.intake.vocab import (
    EducationLevel,
    FollowupChannel,
    FollowupPoint,
    HouseholdRelationship,
    PlanStatus,
    ReviewOutcome,
    ServiceCode,
    Vulnerability,
)

AssessmentKind = Literal["vulnerability", "needs", "skills", "family", "rss"]
Priority = Literal["high", "medium", "low", "none"]
Level = Literal["none", "basic", "good", "fluent", "dont_know"]


# -- typed answer sets, keyed by concept keys ------------------------------------------------------


class VulnerabilityAnswers(BaseModel):
    """Each Handbook vulnerability: true when present (the codes that are true become the
    event's `protection_flags` and join the client's vulnerabilities)."""

    model_config = ConfigDict(extra="forbid")

    victim_of_trafficking: bool | None = None
    unaccompanied_child: bool | None = None
    separated_child: bool | None = None
    gbv_survivor: bool | None = None
    serious_medical_condition: bool | None = None
    mental_health_condition: bool | None = None
    disability: bool | None = None
    pregnant_or_lactating: bool | None = None
    elderly: bool | None = None
    single_parent: bool | None = None
    torture_survivor: bool | None = None
    exploitation_or_abuse: bool | None = None
    stranded_migrant: bool | None = None
    urgent_referral_needed: bool | None = None


class NeedsAnswers(BaseModel):
    """Priority of each kind of assistance."""

    model_config = ConfigDict(extra="forbid")

    information: Priority | None = None
    counselling: Priority | None = None
    legal_assistance: Priority | None = None
    employment: Priority | None = None
    skills_training: Priority | None = None
    education: Priority | None = None
    health: Priority | None = None
    psychosocial_support: Priority | None = None
    housing: Priority | None = None
    economic_reintegration: Priority | None = None
    family_tracing: Priority | None = None
    documentation: Priority | None = None
    financial_literacy: Priority | None = None


class SkillsAnswers(BaseModel):
    model_config = ConfigDict(extra="forbid")

    literacy: Level | None = None
    numeracy: Level | None = None
    education_level: EducationLevel | None = None
    vocational_skills: list[SingleLine] | None = Field(default=None, max_length=20)
    work_experience_years: int | None = Field(default=None, ge=0, le=80)
    business_experience: bool | None = None
    driving_licence: bool | None = None
    languages: list[str] | None = Field(default=None, max_length=10)


class FamilyAnswers(BaseModel):
    model_config = ConfigDict(extra="forbid")

    household_size: int | None = Field(default=None, ge=1, le=50)
    dependants: int | None = Field(default=None, ge=0, le=50)
    children_in_school: int | None = Field(default=None, ge=0, le=30)
    family_support: Literal["strong", "some", "none", "dont_know"] | None = None
    family_tensions: bool | None = None
    separated_from_family: bool | None = None
    family_expects_remittances: bool | None = None


ANSWER_MODELS: dict[str, type[BaseModel]] = {
    "vulnerability": VulnerabilityAnswers,
    "needs": NeedsAnswers,
    "skills": SkillsAnswers,
    "family": FamilyAnswers,
}
VULNERABILITY_CODES: frozenset[str] = frozenset(Vulnerability.__args__)  # type: ignore[attr-defined]


class AssessmentCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"kind": "vulnerability", "answers": {"victim_of_trafficking": True, "disability": False}},
                {"kind": "needs", "answers": {"employment": "high", "health": "medium"}},
            ]
        },
    )

    kind: AssessmentKind
    answers: dict[str, Any] = Field(
        description="Concept key -> answer. rss: option codes of rss-scoring.md ('dont_know' and 'refused' "
        "included) for every question; the other kinds: see VulnerabilityAnswers, NeedsAnswers, "
        "SkillsAnswers, "
        "FamilyAnswers.",
        max_length=80,
    )
    instrument_version: SingleLine | None = Field(default=None, max_length=40)
    conducted_on: date | None = None
    notes: MultiLine | None = Field(default=None, max_length=5000)

    @field_validator("conducted_on")
    @classmethod
    def _not_future(cls, value: date | None) -> date | None:
        if value is not None and value > date.today():
            raise ValueError("must not be in the future")
        return value


class AssessmentPublic(BaseModel):
    id: uuid.UUID
    client_id: uuid.UUID
    agency_id: str
    kind: AssessmentKind
    instrument_version: str
    answers: dict[str, Any]
    protection_flags: list[str]
    conducted_on: date | None
    notes: str | None
    submitted_by: str
    submitted_at: datetime


# -- households -------------------------------------------------------------------------------------


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: uuid.UUID
    relationship: HouseholdRelationship = Field(description="To the head of case")
    dependant: bool = False


class HouseholdCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    head_client_id: uuid.UUID
    members: list[MemberIn] = Field(default_factory=list, max_length=30)


class MemberPublic(BaseModel):
    client_id: uuid.UUID
    relationship: str
    dependant: bool


class HouseholdPublic(BaseModel):
    id: uuid.UUID
    agency_id: str
    head_client_id: uuid.UUID
    members: list[MemberPublic]
    created_at: datetime


# -- case plans ---------------------------------------------------------------------------------------


class Goal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    description: MultiLine = Field(min_length=1, max_length=1000)
    dimension: Literal["economic", "social", "psychosocial", "other"] = "other"
    target_date: date | None = None
    status: Literal["open", "achieved", "dropped"] = "open"


class PlannedService(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    service: ServiceCode
    description: SingleLine | None = Field(default=None, max_length=300)
    provider_agency_id: str | None = Field(default=None, max_length=100)
    directory_service_id: str | None = Field(default=None, max_length=100, description="HSDS service id")
    due_date: date | None = None
    status: Literal["planned", "referred", "in_progress", "delivered", "cancelled"] = "planned"


class CasePlanCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "status": "active",
                    "start_date": "2026-01-15",
                    "goals": [{"description": "Open a tailoring workshop", "dimension": "economic"}],
                    "planned_services": [{"service": "skills_training"}],
                }
            ]
        },
    )

    status: PlanStatus = "draft"
    start_date: date | None = None
    case_worker: SingleLine | None = Field(
        default=None, max_length=200, description="`sub` of the responsible case worker (default: you)"
    )
    assistance_extended: bool = False
    goals: list[Goal] = Field(default_factory=list, max_length=30)
    planned_services: list[PlannedService] = Field(default_factory=list, max_length=30)


class CasePlanUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: PlanStatus | None = None
    start_date: date | None = None
    case_worker: SingleLine | None = Field(default=None, max_length=200)
    assistance_extended: bool | None = None
    goals: list[Goal] | None = Field(default=None, max_length=30)
    planned_services: list[PlannedService] | None = Field(default=None, max_length=30)


class ReviewCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reviewed_on: date
    outcome: ReviewOutcome
    notes: MultiLine | None = Field(default=None, max_length=5000)


class ReviewPublic(BaseModel):
    id: uuid.UUID
    reviewed_on: date
    reviewed_by: str
    outcome: str
    notes: str | None


class CasePlanPublic(BaseModel):
    id: uuid.UUID
    client_id: uuid.UUID
    agency_id: str
    status: PlanStatus
    start_date: date | None
    case_worker: str | None
    assistance_extended: bool
    goals: list[Goal]
    planned_services: list[PlannedService]
    reviews: list[ReviewPublic]
    version: int
    created_by: str
    created_at: datetime
    updated_at: datetime


# -- follow-ups ---------------------------------------------------------------------------------------


class FollowupCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"held_on": "2026-02-01", "channel": "phone", "points_seen": ["wellbeing", "needs"]}]
        },
    )

    held_on: date
    channel: FollowupChannel
    points_seen: list[FollowupPoint] = Field(min_length=1, max_length=5)
    notes: MultiLine | None = Field(default=None, max_length=5000)

    @field_validator("held_on")
    @classmethod
    def _not_future(cls, value: date) -> date:
        if value > date.today():
            raise ValueError("a follow-up is recorded after it was held")
        return value

    @field_validator("points_seen")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class FollowupPublic(BaseModel):
    id: uuid.UUID
    client_id: uuid.UUID
    agency_id: str
    held_on: date
    channel: FollowupChannel
    points_seen: list[str]
    notes: str | None
    recorded_by: str
    created_at: datetime
