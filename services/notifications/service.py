"""Notifications' business logic. It never commits."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from passage.auth import AuthSubject
from passage.bus import CloudEvent
from passage.pagination import Page, decode_cursor, encode_cursor
from services.notifications.models import InAppNotification, InAppNotificationPublic
from services.notifications.repository import NotificationRepository


class InAppService:
    def __init__(self, repository: NotificationRepository) -> None:
        self._repository = repository

    async def notify_agency(
        self, session: AsyncSession, *, agency: str, event: CloudEvent, resource: str
    ) -> None:
        await self._repository.record(
            session,
            InAppNotification(
                recipient_agency=agency,
                kind=event.type,
                resource=resource,
                source_event_id=event.id,
                source_event_time=event.time,
            ),
        )

    async def page(
        self, session: AsyncSession, subject: AuthSubject, *, limit: int, cursor: str | None
    ) -> Page[InAppNotificationPublic]:
        before = decode_cursor(cursor) if cursor else None
        rows = list(await self._repository.page(session, subject, limit=limit + 1, before=before))
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(
            items=[InAppNotificationPublic.model_validate(r, from_attributes=True) for r in rows],
            next_cursor=encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None,
        )


in_app_service = InAppService(NotificationRepository())
