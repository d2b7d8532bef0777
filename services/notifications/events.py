"""What notifications publishes, through its transactional outbox: the events commit with the
delivery state that causes them.

`add_all` writes a batch of events (the outcomes of a batch of deliveries) with one INSERT and one
NOTIFY instead of two statements per event; the rows are exactly those `Outbox.add` writes.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel.ext.asyncio.session import AsyncSession

from passage.bus import Outbox
from passage.bus.envelope import CloudEvent, EventData
from services.notifications.models import SCHEMA

SOURCE = "/passage/notifications"
outbox = Outbox(schema=SCHEMA, source=SOURCE)


async def add_all(session: AsyncSession, items: Sequence[tuple[EventData, str]]) -> list[CloudEvent]:
    """Several events (data, subject) into the outbox in the caller's transaction."""
    return await outbox.add_many(session, items)
