"""Reminders that fall due later: an identity document or a consent about to expire, N days before.

Each is a durable timer (`passage.timers`, kinds `document_expiry` and `consent_expiry`), armed in
the transaction of the event that announces the date, and remembered per client
(`reminder_keys`) so that closing or anonymising the client's file cancels all of them at once.

- Documents: `intake.client.registered|updated` carry the full list of document expiries; the
  reminders follow it (new dates re-arm, removed or lapsed documents cancel). An update older than
  one already applied is ignored (events may arrive out of order).
- Consents: `intake.consent.granted` with a `period_end` arms one; withdrawn or expired cancels it.
- A closed or anonymised client gets no new reminders and loses the armed ones; a reopened client's
  document reminders come back with its next update.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from passage.contracts import intake
from passage.timers import Timers
from services.notifications.dispatch import notification_settings
from services.notifications.models import SCHEMA
from services.notifications.repository_reminders import ReminderRepository

timers = Timers(SCHEMA)
DOCUMENT_EXPIRY = "document_expiry"
CONSENT_EXPIRY = "consent_expiry"
REGISTERED_VERSION = 0  # a registration comes before any update


def reminder_due(expires: date, days_before: int) -> datetime:
    """08:00 UTC `days_before` days before the expiry; now when that time has passed."""
    due = datetime.combine(expires - timedelta(days=days_before), time(8, 0), tzinfo=UTC)
    return max(due, datetime.now(UTC))


class Reminders:
    def __init__(self) -> None:
        self._repository = ReminderRepository()

    async def follow_documents(
        self,
        session: AsyncSession,
        *,
        client_id: uuid.UUID,
        agency: str,
        version: int,
        expiries: list[intake.DocumentExpiry],
    ) -> None:
        """Make the client's document reminders match its documents as of record `version`."""
        state = await self._repository.client(session, client_id)
        if state is not None and version < state.record_version:
            return  # an older picture of the file than one already applied
        state = await self._repository.seen(session, client_id, version)
        armed = {k.key for k in await self._repository.keys_of(session, client_id, DOCUMENT_EXPIRY)}
        wanted: set[str] = set()
        if state.closed_at is None:
            days = notification_settings().document_expiry_days_before
            today = datetime.now(UTC).date()
            for doc in expiries:
                if doc.expires_on < today:
                    continue
                key = f"{client_id}:{doc.document_id}"
                wanted.add(key)
                payload = {
                    "client_id": str(client_id),
                    "agency_id": agency,
                    "document_kind": doc.kind,
                    "expires_on": doc.expires_on.isoformat(),
                    "days_before": days,
                }
                due = reminder_due(doc.expires_on, days)
                await timers.schedule(session, kind=DOCUMENT_EXPIRY, key=key, due_at=due, payload=payload)
                await self._repository.remember(session, kind=DOCUMENT_EXPIRY, key=key, client_id=client_id)
        for key in armed - wanted:
            await self._cancel(session, DOCUMENT_EXPIRY, key)

    async def consent_granted(self, session: AsyncSession, data: intake.ConsentGranted) -> None:
        if data.decision != "permit" or data.period_end is None:
            return
        state = await self._repository.client(session, data.client_id)
        if state is not None and state.closed_at is not None:
            return
        days = notification_settings().consent_expiry_days_before
        key = str(data.consent_id)
        await timers.schedule(
            session,
            kind=CONSENT_EXPIRY,
            key=key,
            due_at=reminder_due(data.period_end.date(), days),
            payload={
                "client_id": str(data.client_id),
                "agency_id": data.agency_id,
                "expires_on": data.period_end.date().isoformat(),
                "days_before": days,
            },
        )
        await self._repository.remember(session, kind=CONSENT_EXPIRY, key=key, client_id=data.client_id)

    async def consent_ended(self, session: AsyncSession, consent_id: uuid.UUID) -> None:
        await self._cancel(session, CONSENT_EXPIRY, str(consent_id))

    async def client_closed(self, session: AsyncSession, client_id: uuid.UUID, at: datetime) -> int:
        """Cancel every reminder of the client and arm no new ones; returns how many were cancelled."""
        await self._repository.mark_closed(session, client_id, at)
        cancelled = 0
        for armed in await self._repository.keys_of(session, client_id):
            cancelled += await self._cancel(session, armed.kind, armed.key)
        return cancelled

    async def client_reopened(self, session: AsyncSession, client_id: uuid.UUID) -> None:
        await self._repository.mark_closed(session, client_id, None)

    async def fired(self, session: AsyncSession, kind: str, key: str) -> None:
        """A reminder ran (its timer row goes with this transaction): forget it."""
        await self._repository.forget(session, kind=kind, key=key)

    async def _cancel(self, session: AsyncSession, kind: str, key: str) -> int:
        cancelled = await timers.cancel(session, kind=kind, key=key)
        await self._repository.forget(session, kind=kind, key=key)
        return int(cancelled)


reminders = Reminders()
