"""Composition root of the intake service."""

from __future__ import annotations

from pathlib import Path

from passage.component import Component
from services.intake import consumers, routes
from services.intake.models import SCHEMA

component = Component(
    name="intake",
    title="Intake",
    description="Clients registered by agencies, and the events that tell the other services about them.",
    schema=SCHEMA,
    migrations=Path(__file__).parent / "migrations",
    routers=[routes.router],
    subscriptions=consumers.subscriptions,
)
