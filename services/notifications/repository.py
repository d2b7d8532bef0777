"""Every query of the notifications tables; the recipient scope lives in `readable`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from passage.auth import AuthSubject
from services.notifications.models import InAppNotification


class NotificationRepository:
    def readable(self, subject: AuthSubject) -> SelectOfScalar[InAppNotification]:
        """Notices for the caller: its agency's, and its own."""
        return select(InAppNotification).where(
            InAppNotification.recipient_agency == subject.agency,
            or_(
                col(InAppNotification.recipient_user).is_(None),
                col(InAppNotification.recipient_user) == subject.sub,
            ),
        )

    async def page(
        self,
        session: AsyncSession,
        subject: AuthSubject,
        *,
        limit: int,
        before: tuple[datetime, uuid.UUID] | None,
    ) -> Sequence[InAppNotification]:
        query = self.readable(subject)
        if before is not None:
            query = query.where(
                tuple_(col(InAppNotification.created_at), col(InAppNotification.id)) < tuple_(*before)
            )
        query = query.order_by(col(InAppNotification.created_at).desc(), col(InAppNotification.id).desc())
        return (await session.exec(query.limit(limit))).all()

    async def record(self, session: AsyncSession, notification: InAppNotification) -> None:
        """Insert unless this event already gave this recipient its notice."""
        await session.exec(
            insert(InAppNotification).values(**notification.model_dump()).on_conflict_do_nothing()
        )
