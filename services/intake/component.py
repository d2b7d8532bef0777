"""Composition root of the intake service."""

from __future__ import annotations

from pathlib import Path

from passage.component import Component
from services.intake import consumers, records, routes, routes_casework
from services.intake.models import SCHEMA
from services.intake.timing import CONSENT_EXPIRY, IDEMPOTENCY_PURGE, RETENTION, housekeeping

component = Component(
    name="intake",
    title="Intake",
    description="Where a migrant's case lives: the client file (MRC minimum data set, every personal field "
    "labelled with its data category), consents, assessments, households, case plans, follow-ups and "
    "closure. Every change is told to the other services through events.",
    schema=SCHEMA,
    migrations=Path(__file__).parent / "migrations",
    routers=[routes.router, routes_casework.router],
    subscriptions=consumers.subscriptions,
    timers={
        RETENTION: records.on_retention_due,
        CONSENT_EXPIRY: records.on_consent_expiry_due,
        IDEMPOTENCY_PURGE: records.on_idempotency_purge_due,
    },
    lifespan=housekeeping,
    openapi_tags=[
        {"name": "clients", "description": "The client file"},
        {"name": "consents", "description": "Consent records (FHIR R5 Consent shaped)"},
        {"name": "casework", "description": "Assessments, households, case plans, follow-ups"},
        {"name": "records", "description": "Change feed, subject-access export, statistics"},
        {"name": "schema", "description": "Data categories of personal fields"},
    ],
)
