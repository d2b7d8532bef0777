"""Composition root of the referrals service."""

from __future__ import annotations

from pathlib import Path

from passage.component import Component
from services.referrals import consumers, routes
from services.referrals.models import SCHEMA

component = Component(
    name="referrals",
    title="Referrals",
    description="The service directory (Open Referral HSDS 3.0), data-sharing agreements between "
    "agencies, and referrals from request to outcome.",
    schema=SCHEMA,
    migrations=Path(__file__).parent / "migrations",
    routers=[routes.router],
    subscriptions=consumers.subscriptions,
)
