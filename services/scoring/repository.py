"""Every query of scoring's tables; the agency scope lives in `readable`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from passage.auth import AuthSubject
from services.scoring.models import ScheduledAssessment


class ScheduleRepository:
    def readable(self, subject: AuthSubject) -> SelectOfScalar[ScheduledAssessment]:
        return select(ScheduledAssessment).where(ScheduledAssessment.agency_id == subject.agency)

    async def for_client(
        self, session: AsyncSession, subject: AuthSubject, client_id: uuid.UUID
    ) -> Sequence[ScheduledAssessment]:
        query = (
            self.readable(subject)
            .where(ScheduledAssessment.client_id == client_id)
            .order_by(col(ScheduledAssessment.due_on), col(ScheduledAssessment.round))
        )
        return (await session.exec(query)).all()

    async def schedule(self, session: AsyncSession, item: ScheduledAssessment) -> None:
        """Insert unless the client already has this round of this instrument."""
        values = item.model_dump()
        await session.exec(insert(ScheduledAssessment).values(**values).on_conflict_do_nothing())
