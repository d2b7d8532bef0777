"""Request and response shapes of scoring's API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from passage.contracts.scoring import Bands, Intensity, Scores
from passage.text import SingleLine

Code = Annotated[SingleLine, StringConstraints(min_length=1, max_length=100)]
LanguageTag = Annotated[SingleLine, StringConstraints(min_length=2, max_length=35)]

# --- The RSS instrument and calculator -------------------------------------------------------


class InstrumentOption(BaseModel):
    code: str
    points: float
    label: str


class InstrumentIndicator(BaseModel):
    key: str
    dimension: Literal["economic", "social", "psychosocial"] | None = Field(
        description="null for remigration_reason, which is scored through need_to_remigrate"
    )
    label: str
    options: list[InstrumentOption]
    dimension_weight: float
    composite_weight: float
    required: bool = Field(description="false for a follow-up asked only under a condition")
    asked_when: dict[str, str] | None = Field(
        default=None, description='e.g. {"need_to_remigrate": "yes"} for remigration_reason'
    )


class DerivedIndicatorPublic(BaseModel):
    key: str
    dimension: Literal["economic", "social", "psychosocial"]
    label: str
    mean_of: list[str]
    dimension_weight: float
    composite_weight: float


class Instrument(BaseModel):
    instrument: str = "rss"
    version: str
    indicators: list[InstrumentIndicator]
    derived: list[DerivedIndicatorPublic]
    thresholds: dict[str, float] = Field(
        description="intensified below `intensified_below`, light above `light_above`"
    )


class RssAnswers(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"answers": {"economic_satisfaction": "satisfied", "food_security": "often", "...": "..."}}
            ]
        }
    )

    answers: dict[
        Annotated[str, StringConstraints(max_length=100)], Annotated[str, StringConstraints(max_length=100)]
    ] = Field(max_length=60, description="Option code by concept key (see GET /v1/rss/instrument)")


class ExplanationLine(BaseModel):
    key: str
    dimension: str
    answer: str | None = Field(description="null for the derived access_public_services")
    points: float
    dimension_weight: float
    composite_weight: float
    dimension_contribution: float = Field(description="points x dimension weight")
    composite_contribution: float = Field(description="points x composite weight")
    note: str | None = None


class RssScore(BaseModel):
    scores: Scores
    bands: Bands
    dont_know_count: int = Field(description="dont_know, refused and not_applicable answers")
    low_accuracy: bool = Field(description="true when dont_know_count > 7")
    explanation: list[ExplanationLine]


# --- Scores over time, triage, schedules -----------------------------------------------------


class ScorePublic(BaseModel):
    id: uuid.UUID
    assessment_id: uuid.UUID
    instrument_version: str
    scores: Scores
    bands: Bands
    dont_know_count: int
    low_accuracy: bool
    assessed_at: datetime


class ClientScores(BaseModel):
    client_id: uuid.UUID
    items: list[ScorePublic] = Field(description="oldest first")


class ScheduledAssessmentPublic(BaseModel):
    id: uuid.UUID
    client_id: uuid.UUID
    instrument: str
    round: str
    kind: str
    month: int | None
    due_on: date
    status: str


class TriagePublic(BaseModel):
    intensity: Intensity
    rule: str
    decided_at: datetime


class ClientSchedule(BaseModel):
    client_id: uuid.UUID
    triage: TriagePublic | None = None
    plan_start: date | None = None
    items: list[ScheduledAssessmentPublic]


# --- Matching --------------------------------------------------------------------------------


class Area(BaseModel):
    admin1: Code | None = None
    admin2: Code | None = None
    admin3: Code | None = None


class ServiceMatchRequest(BaseModel):
    """What the matcher needs about a client: codes only, never names."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "needs": ["housing", "psychosocial"],
                    "language": "fr",
                    "area": {"admin1": "dakar"},
                    "gender": "female",
                    "age": 24,
                    "attributes": ["victim_of_trafficking"],
                }
            ]
        }
    )

    needs: list[Code] = Field(default_factory=list, max_length=30, description="taxonomy term codes or ids")
    language: LanguageTag | None = None
    area: Area | None = None
    gender: Code | None = None
    age: int | None = Field(default=None, ge=0, le=130)
    attributes: list[Code] = Field(default_factory=list, max_length=30, description="eligibility attributes")
    limit: int = Field(default=10, ge=1, le=100)


class ServiceMatch(BaseModel):
    rank: int
    service_id: str
    organization_id: str | None
    name: str
    fit: float = Field(description="0..1, higher is better")
    open_slots: int | None
    waiting_time_days: int | None
    reasons: list[str]


class ServiceMatches(BaseModel):
    items: list[ServiceMatch]
    excluded: int = Field(description="services left out as not eligible, full or not covering any need")


class MentorMatchRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "languages": ["wo", "fr"],
                    "origin": "SN",
                    "gender": "female",
                    "gender_preference": "same",
                    "area": {"admin1": "dakar"},
                }
            ]
        }
    )

    languages: list[LanguageTag] = Field(default_factory=list, max_length=10)
    origin: Code | None = Field(default=None, description="country (ISO 3166) or community of origin")
    gender: Code | None = None
    gender_preference: Literal["same", "female", "male", "any"] = "any"
    area: Area | None = None
    programme_ids: list[Code] = Field(default_factory=list, max_length=50)
    limit: int = Field(default=10, ge=1, le=100)


class MentorMatch(BaseModel):
    rank: int
    programme_id: str
    mentor_id: str
    fit: float
    active_mentees: int
    max_mentees: int | None
    reasons: list[str]


class MentorMatches(BaseModel):
    items: list[MentorMatch]
