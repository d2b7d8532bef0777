"""Timers of intake (passage.timers): retention after closure, consent expiry, the periodic purge of
idempotency keys; and intake's own settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlmodel.ext.asyncio.session import AsyncSession

from passage.db import Database
from passage.idempotency import Idempotency
from passage.settings import Settings
from passage.timers import Timers
from services.intake.models import SCHEMA, Client, Consent

timers = Timers(SCHEMA)
idempotency = Idempotency(SCHEMA)  # every POST of intake goes through it (routes)
RETENTION = "intake_retention"
CONSENT_EXPIRY = "intake_consent_expiry"
IDEMPOTENCY_PURGE = "intake_idempotency_purge"
PURGE_KEY = "idempotency-keys"  # one purge timer per deployment (replicas share it)
PURGE_BATCH = 5000  # keys deleted per run; a full batch re-arms the timer at once

# What survives anonymisation: codes that statistics need, nothing that names or reaches a person.
STATISTICS_FIELDS = frozenset(
    {
        "birth_year",
        "sex",
        "gender",
        "nationality",
        "marital_status",
        "dependants",
        "education_level",
        "employment_status",
        "migration_phase",
        "migration_reasons",
        "vulnerabilities",
        "services_sought",
        "services_received",
        "destination_country",
        "preferred_language",
        "interpreter_needed",
        "enquiring_on_behalf_of_others",
    }
)


class IntakeSettings(BaseSettings):
    """Intake's own settings (environment, prefix PASSAGE_INTAKE_)."""

    model_config = SettingsConfigDict(env_prefix="PASSAGE_INTAKE_", extra="ignore")

    retention_days: float = Field(
        default=1825, ge=0, description="How long a closed file is kept before it is anonymised"
    )
    idempotency_retention_hours: float = Field(
        default=24, gt=0, description="How long an Idempotency-Key (and the answer it replays) is kept"
    )
    idempotency_purge_interval_seconds: float = Field(
        default=3600, gt=0, description="How often expired Idempotency-Keys are purged"
    )


def retention_period() -> timedelta:
    return timedelta(days=IntakeSettings().retention_days)


async def schedule_retention(session: AsyncSession, client: Client) -> None:
    assert client.closed_at is not None
    await timers.schedule(
        session, kind=RETENTION, key=str(client.id), due_at=client.closed_at + retention_period()
    )


async def cancel_retention(session: AsyncSession, client: Client) -> None:
    await timers.cancel(session, kind=RETENTION, key=str(client.id))


async def schedule_consent_expiry(session: AsyncSession, consent: Consent) -> None:
    if consent.period_end is not None:
        await timers.schedule(session, kind=CONSENT_EXPIRY, key=str(consent.id), due_at=consent.period_end)


async def cancel_consent_expiry(session: AsyncSession, consent: Consent) -> None:
    await timers.cancel(session, kind=CONSENT_EXPIRY, key=str(consent.id))


async def arm_idempotency_purge(session: AsyncSession, due_at: datetime) -> None:
    await timers.schedule(session, kind=IDEMPOTENCY_PURGE, key=PURGE_KEY, due_at=due_at)


@asynccontextmanager
async def housekeeping(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    """At start, make sure the idempotency purge timer exists (it re-arms itself on every run;
    this only plants the first one, or replants it if someone deleted the row)."""
    db: Database = app.state.db
    async with db.sessionmaker.begin() as session:  # commits on leaving the block
        if await timers.pending(session, kind=IDEMPOTENCY_PURGE, key=PURGE_KEY) is None:
            await arm_idempotency_purge(session, datetime.now(UTC))
    yield
