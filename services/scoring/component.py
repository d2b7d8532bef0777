"""Composition root of the scoring service."""

from __future__ import annotations

from pathlib import Path

from passage.component import Component
from services.scoring import consumers, routes
from services.scoring.models import SCHEMA

component = Component(
    name="scoring",
    title="Scoring",
    description="Reintegration scores, triage and the follow-up schedule of each client.",
    schema=SCHEMA,
    migrations=Path(__file__).parent / "migrations",
    routers=[routes.router],
    subscriptions=consumers.subscriptions,
)
