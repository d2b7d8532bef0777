"""The end of a break-glass window: audited and announced when the timer fires."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from gateway.audit.entry import AuditEntry
from gateway.audit.tables import breakglass_grants
from gateway.audit.writer import append_entries
from gateway.runtime import outbox
from passage.contracts.gateway import BreakGlassEnded
from passage.timers import DueTimer, Timers

timers = Timers("gateway")


async def on_break_glass_end(session: AsyncSession, timer: DueTimer) -> None:
    grant_id = uuid.UUID(timer.key)
    row = (
        (
            await session.execute(
                sa.update(breakglass_grants)
                .where(breakglass_grants.c.id == grant_id, breakglass_grants.c.ended_at.is_(None))
                .values(ended_at=sa.func.now())
                .returning(breakglass_grants)
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return  # already ended
    ended = datetime.now(UTC)
    entry = AuditEntry(
        actor=row["actor"],
        agency_id=row["agency_id"],
        roles=(),
        purpose="emergency",
        action="breakglass.ended",
        outcome="recorded",
        request_id=f"timer:{grant_id}",
        client_id=row["client_id"],
        basis={"rule": "break_glass", "grant_id": str(grant_id)},
        detail={"started_at": row["started_at"].isoformat(), "expires_at": row["expires_at"].isoformat()},
    )
    await append_entries(await session.connection(), [entry])
    await outbox.add(
        session,
        BreakGlassEnded(
            grant_id=grant_id,
            client_id=row["client_id"],
            agency_id=row["agency_id"],
            actor=row["actor"],
            ended_at=ended,
        ),
        subject=f"client/{row['client_id']}",
    )
