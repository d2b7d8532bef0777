"""Composition root of the scoring service."""

from __future__ import annotations

from pathlib import Path

from passage.component import Component
from services.scoring import consumers, routes
from services.scoring.directory import directory_source
from services.scoring.events import FOLLOWUP_DUE
from services.scoring.models import SCHEMA

component = Component(
    name="scoring",
    title="Scoring",
    description="Reintegration Sustainability Scores (IOM's calculator), vulnerability triage, follow-up "
    "schedules, and matching of services and peer mentors.",
    schema=SCHEMA,
    migrations=Path(__file__).parent / "migrations",
    routers=routes.routers,
    subscriptions=consumers.subscriptions,
    lifespan=directory_source.lifespan,
    timers={FOLLOWUP_DUE: consumers.on_followup_due},
)
