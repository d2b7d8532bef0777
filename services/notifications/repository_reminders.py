"""Queries of the reminders' bookkeeping and of the outbox batch (the rest is in repository.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications.models import ReminderClient, ReminderKey


class ReminderRepository:
    """The reminders armed per client (the timers themselves are `passage.timers` rows)."""

    async def client(self, session: AsyncSession, client_id: uuid.UUID) -> ReminderClient | None:
        query = select(ReminderClient).where(ReminderClient.client_id == client_id).with_for_update()
        return (await session.exec(query)).first()

    async def seen(self, session: AsyncSession, client_id: uuid.UUID, version: int) -> ReminderClient:
        """Record that `version` of the client was seen (never going back); returns the row, locked."""
        statement = insert(ReminderClient).values(client_id=client_id, record_version=version)
        statement = statement.on_conflict_do_update(
            index_elements=["client_id"],
            set_={"record_version": func.greatest(ReminderClient.record_version, version)},
        )
        await session.exec(statement)
        row = await self.client(session, client_id)
        assert row is not None
        return row

    async def mark_closed(self, session: AsyncSession, client_id: uuid.UUID, at: datetime | None) -> None:
        statement = insert(ReminderClient).values(client_id=client_id, record_version=0, closed_at=at)
        await session.exec(
            statement.on_conflict_do_update(index_elements=["client_id"], set_={"closed_at": at})
        )

    async def remember(self, session: AsyncSession, *, kind: str, key: str, client_id: uuid.UUID) -> None:
        statement = insert(ReminderKey).values(kind=kind, key=key, client_id=client_id)
        await session.exec(statement.on_conflict_do_nothing())

    async def forget(self, session: AsyncSession, *, kind: str, key: str) -> None:
        r = ReminderKey
        await session.exec(sa.delete(r).where(col(r.kind) == kind, col(r.key) == key))

    async def keys_of(
        self, session: AsyncSession, client_id: uuid.UUID, kind: str | None = None
    ) -> Sequence[ReminderKey]:
        query = select(ReminderKey).where(ReminderKey.client_id == client_id)
        if kind is not None:
            query = query.where(ReminderKey.kind == kind)
        return (await session.exec(query)).all()
