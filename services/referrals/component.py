"""Composition root of the referrals service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from passage.component import Command, Component
from passage.service_auth import service_http
from passage.settings import Settings
from services.referrals import consumers, routes
from services.referrals.directory import cli as directory_cli
from services.referrals.lifecycle.cascade import on_sla_due
from services.referrals.lifecycle.publishing import SLA_TIMER
from services.referrals.models import SCHEMA


@asynccontextmanager
async def lifespan(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    # One client for intake (consents, client demographics), on referrals' own service identity.
    app.state.intake_http = service_http(settings, "intake", caller="referrals")
    try:
        yield
    finally:
        await app.state.intake_http.aclose()


component = Component(
    name="referrals",
    title="Referrals",
    description="The service directory (Open Referral HSDS 3.0), data-sharing agreements between "
    "agencies, and referrals from request to outcome.",
    schema=SCHEMA,
    migrations=Path(__file__).parent / "migrations",
    routers=routes.routers,
    subscriptions=consumers.subscriptions,
    lifespan=lifespan,
    timers={SLA_TIMER: on_sla_due},
    commands=[
        Command(
            name="directory",
            help="the HSDS service directory: `passage directory import FILE`",
            configure=directory_cli.configure,
            run=directory_cli.run,
        )
    ],
    openapi_tags=(
        {"name": "directory", "description": "The service directory, Open Referral HSDS 3.0"},
        {"name": "agreements", "description": "Data-sharing agreements (SOPs) between agencies"},
        {"name": "referrals", "description": "Referrals between agencies, FHIR/Gravity Task statuses"},
    ),
)
