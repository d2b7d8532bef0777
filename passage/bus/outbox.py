"""Writing events into the outbox, inside the caller's transaction."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from passage.bus.envelope import CloudEvent, EventData
from passage.bus.tables import bus_tables


class Outbox:
    """One per component. `add` never commits: the boundary that owns the session does."""

    def __init__(self, *, schema: str, source: str) -> None:
        self._tables = bus_tables(schema)
        self._source = source
        self._notify = select(func.pg_notify(self._tables.notify_channel, ""))

    async def add(self, session: AsyncSession, data: EventData, *, subject: str | None = None) -> CloudEvent:
        event = CloudEvent.wrap(data, source=self._source, subject=subject)
        await session.exec(
            self._tables.outbox.insert().values(
                event_id=event.id,
                event_type=event.type,
                headers=event.headers(),
                payload=event.data,
            )
        )
        # NOTIFY is transactional: the relay is woken only if and when this commits.
        await session.exec(self._notify)
        return event
