"""Scoring's business logic. It never commits."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from passage.auth import AuthSubject
from services.scoring.models import BASELINE_WINDOW_DAYS, ScheduledAssessment
from services.scoring.repository import ScheduleRepository


class ScheduleService:
    def __init__(self, repository: ScheduleRepository) -> None:
        self._repository = repository

    async def plan_baseline(
        self, session: AsyncSession, *, client_id: uuid.UUID, agency_id: str, registered_on: date
    ) -> None:
        await self._repository.schedule(
            session,
            ScheduledAssessment(
                client_id=client_id,
                agency_id=agency_id,
                instrument="rss",
                round="baseline",
                due_on=registered_on + timedelta(days=BASELINE_WINDOW_DAYS),
            ),
        )

    async def for_client(
        self, session: AsyncSession, subject: AuthSubject, client_id: uuid.UUID
    ) -> list[ScheduledAssessment]:
        return list(await self._repository.for_client(session, subject, client_id))


schedule_service = ScheduleService(ScheduleRepository())
