"""Writing events into the outbox, inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence

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

    async def add_many(
        self, session: AsyncSession, items: Sequence[tuple[EventData, str | None]]
    ) -> list[CloudEvent]:
        """Several events (data, subject) with one INSERT and one NOTIFY: a batch's outcomes."""
        events = [CloudEvent.wrap(data, source=self._source, subject=subject) for data, subject in items]
        if not events:
            return events
        rows = [
            {"event_id": e.id, "event_type": e.type, "headers": e.headers(), "payload": e.data}
            for e in events
        ]
        connection = await session.connection()
        await connection.execute(self._tables.outbox.insert(), rows)
        await session.exec(self._notify)
        return events
