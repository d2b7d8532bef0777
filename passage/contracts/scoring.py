"""Events published by the scoring service (stream SCORING, subjects `scoring.>`). No answers."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict

from passage.bus.envelope import EventData

Band = Literal["intensified", "standard", "light"]
Intensity = Literal["intensive", "standard", "light"]


class Scores(BaseModel):
    model_config = ConfigDict(frozen=True)

    economic: float
    social: float
    psychosocial: float
    composite: float


class Bands(BaseModel):
    model_config = ConfigDict(frozen=True)

    economic: Band
    social: Band
    psychosocial: Band
    composite: Band


class ScoreComputed(EventData):
    event_type = "scoring.score.computed"
    version = 1

    score_id: uuid.UUID
    client_id: uuid.UUID
    agency_id: str
    assessment_id: uuid.UUID
    instrument_version: str
    scores: Scores
    bands: Bands
    low_accuracy: bool


class BandChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    dimension: Literal["economic", "social", "psychosocial", "composite"]
    previous: Band
    current: Band


class BandChanged(EventData):
    """Two consecutive scores of a client fall in different bands: the case manager is told."""

    event_type = "scoring.band.changed"
    version = 1

    client_id: uuid.UUID
    agency_id: str
    score_id: uuid.UUID
    previous_score_id: uuid.UUID
    changes: list[BandChange]


class TriageChanged(EventData):
    event_type = "scoring.triage.changed"
    version = 1

    client_id: uuid.UUID
    agency_id: str
    intensity: Intensity
    previous_intensity: Intensity | None
    rule: str  # the rule that fired, e.g. "victim_of_trafficking"


class FollowupDue(EventData):
    """A scheduled item fell due; notifications reminds the case worker (and optionally the client)."""

    event_type = "scoring.followup.due"
    version = 1

    item_id: uuid.UUID
    client_id: uuid.UUID
    agency_id: str
    kind: str  # follow_up, mid_term_monitoring, final_monitoring, rss, ...
    due_on: date
    case_worker: str | None
