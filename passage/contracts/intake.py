"""Events published by the intake service (stream INTAKE, subjects `intake.>`).

Payloads carry ids, codes and dates: never names, free text, or contact details. A consumer that
needs more asks intake's REST API (with its service identity, see passage.service_auth).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from passage.bus.envelope import EventData

AssessmentKind = Literal["vulnerability", "needs", "skills", "family", "rss"]
ConsentDecision = Literal["permit", "deny"]


class DocumentExpiry(BaseModel):
    """An identity document's expiry, so reminders can be planned; no document number."""

    model_config = ConfigDict(frozen=True)

    document_id: uuid.UUID
    kind: str  # passport, national_id, residence_permit, travel_document, ...
    expires_on: date


class ClientRegistered(EventData):
    """A client was registered by an agency. Carries ids only: no names, no birth data."""

    event_type = "intake.client.registered"
    version = 1

    client_id: uuid.UUID
    agency_id: str
    registered_by: str
    sensitive: bool = False  # trafficking, GBV or unaccompanied child: fewer roles may see it
    document_expiries: list[DocumentExpiry] = []


class ClientUpdated(EventData):
    event_type = "intake.client.updated"
    version = 1

    client_id: uuid.UUID
    agency_id: str
    updated_by: str
    record_version: int
    changed_categories: list[str]  # data categories whose fields changed, e.g. ["contact"]
    sensitive: bool = False
    document_expiries: list[DocumentExpiry] = []


class ClientMerged(EventData):
    """`merged_client_id` was folded into `client_id`, which keeps both histories."""

    event_type = "intake.client.merged"
    version = 1

    client_id: uuid.UUID
    merged_client_id: uuid.UUID
    agency_id: str
    merged_by: str


class ClientClosed(EventData):
    event_type = "intake.client.closed"
    version = 1

    client_id: uuid.UUID
    agency_id: str
    closure_reason: str  # a code from the Handbook's closure reasons
    closed_by: str
    closed_at: datetime


class ClientReopened(EventData):
    event_type = "intake.client.reopened"
    version = 1

    client_id: uuid.UUID
    agency_id: str
    reopened_by: str


class ClientAnonymised(EventData):
    """The retention period after closure ended: personal fields are gone, statistics remain."""

    event_type = "intake.client.anonymised"
    version = 1

    client_id: uuid.UUID
    agency_id: str


class ConsentGranted(EventData):
    """A consent record (FHIR R5 Consent shaped) was recorded. `grantee_agency_id` None means any
    agency party to an agreement with the owning agency."""

    event_type = "intake.consent.granted"
    version = 1

    consent_id: uuid.UUID
    client_id: uuid.UUID
    agency_id: str  # the agency holding the client's file
    grantee_agency_id: str | None
    decision: ConsentDecision
    purposes: list[str]
    categories: list[str]
    period_start: datetime
    period_end: datetime | None


class ConsentWithdrawn(EventData):
    """Takes effect at once: the gateway stops releasing, referrals put dependent referrals on hold."""

    event_type = "intake.consent.withdrawn"
    version = 1

    consent_id: uuid.UUID
    client_id: uuid.UUID
    agency_id: str
    grantee_agency_id: str | None
    withdrawn_by: str
    withdrawn_at: datetime


class ConsentExpired(EventData):
    event_type = "intake.consent.expired"
    version = 1

    consent_id: uuid.UUID
    client_id: uuid.UUID
    agency_id: str
    grantee_agency_id: str | None
    expired_at: datetime


class AssessmentSubmitted(EventData):
    """An assessment's answer set was submitted.

    For `rss`, `answers` holds the option codes by concept key (rss-scoring.md), which is what
    scoring needs to compute the scores. For `vulnerability`, `protection_flags` holds the codes
    that drive triage (victim_of_trafficking, unaccompanied_child, gbv_survivor,
    serious_medical_condition, ...). Other kinds carry neither: they are fetched when needed.
    """

    event_type = "intake.assessment.submitted"
    version = 1

    assessment_id: uuid.UUID
    client_id: uuid.UUID
    agency_id: str
    kind: AssessmentKind
    instrument_version: str
    submitted_by: str
    submitted_at: datetime
    answers: dict[str, str] | None = None
    protection_flags: list[str] = []


class CasePlanChanged(EventData):
    """A case (reintegration) plan was created or changed: what scoring's follow-up schedule needs."""

    event_type = "intake.caseplan.changed"
    version = 1

    plan_id: uuid.UUID
    client_id: uuid.UUID
    agency_id: str
    status: str  # draft, active, under_review, completed, ...
    start_date: date | None
    case_worker: str | None  # the responsible case worker's `sub`
    assistance_extended: bool = False  # assistance continues past month 12 (trafficking schedule)


class FollowupRecorded(EventData):
    event_type = "intake.followup.recorded"
    version = 1

    followup_id: uuid.UUID
    client_id: uuid.UUID
    agency_id: str
    held_on: date
    channel: str  # in_person, phone, video, home_visit, ...
    points_seen: list[str]  # expectations, needs, self_sufficiency, wellbeing, workplace
    recorded_by: str
