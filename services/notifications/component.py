"""Composition root of the notifications service."""

from __future__ import annotations

from pathlib import Path

from passage.component import Component
from services.notifications import consumers, routes
from services.notifications.models import SCHEMA

component = Component(
    name="notifications",
    title="Notifications",
    description="What people and partner systems must hear about: in-app notices (email, SMS and "
    "signed webhooks come with their issue).",
    schema=SCHEMA,
    migrations=Path(__file__).parent / "migrations",
    routers=[routes.router],
    subscriptions=consumers.subscriptions,
)
