"""The delivery worker: sends due deliveries and records each outcome.

Deliveries are rows with a due time (`next_attempt_at`), so they survive restarts: a worker claims
due rows (FOR UPDATE SKIP LOCKED, with a lease so that a crash mid-send hands the row to the next
worker), sends outside any transaction, then records the outcome, the next try or the dead letter,
and the matching `notifications.delivery.*` event in one transaction. Commits of new deliveries
wake it through LISTEN/NOTIFY; retries wake it when they fall due.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import structlog

from passage.db import Database, asyncpg_dsn
from passage.settings import Settings
from services.notifications.models import Delivery
from services.notifications.outcomes import OutcomeRecorder
from services.notifications.repository import WAKE_CHANNEL, DeliveryRepository
from services.notifications.sending import Contacts, Outcome, Sender
from services.notifications.settings import NotificationSettings

log = structlog.get_logger(__name__)


class DeliveryWorker:
    """Claims due deliveries in batches, sends them side by side, records outcomes in batches.

    - claiming: one transaction per batch (`FOR UPDATE SKIP LOCKED` + a lease), which also loads
      the batch's endpoints and recipients; it holds no connection while anything is sent;
    - sending: up to `concurrency` at once over one shared HTTP client (keep-alive per endpoint);
      up to twice that many are claimed so that the next sends are ready when a slot frees;
    - recording: one task drains the outcomes as they come and records all that are waiting in one
      transaction (group commit), with their `notifications.delivery.*` events;
    - waking: a commit that plans deliveries NOTIFYs the worker; retries and quiet hours wake it
      at their due time (or after `poll_seconds` at most).
    """

    def __init__(
        self,
        *,
        db: Database,
        settings: Settings,
        notification_settings: NotificationSettings,
        sender: Sender,
        recorder: OutcomeRecorder,
    ) -> None:
        self._db = db
        self._settings = settings
        self._s = notification_settings
        self._sender = sender
        self._recorder = recorder
        self._deliveries = DeliveryRepository()
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._slots = asyncio.Semaphore(notification_settings.concurrency)
        self._inflight: set[asyncio.Task[None]] = set()
        self._outcomes: asyncio.Queue[tuple[uuid.UUID, Outcome] | None] = asyncio.Queue()

    async def run(self) -> None:
        await self._listen()
        recording = asyncio.create_task(self._record_loop(), name="notifications-outcomes")
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                try:
                    if await self.run_once():
                        continue  # a full batch: there may be more due at once
                    timeout = await self._idle_timeout()
                except Exception as exc:
                    log.warning("delivery_poll_failed", error=str(exc))
                    timeout = self._s.poll_seconds
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=timeout)
                if self._listener is None or self._listener.is_closed():
                    await self._listen()
        finally:
            if self._inflight:
                await asyncio.wait(self._inflight, timeout=self._settings.graceful_shutdown_seconds)
            for task in list(self._inflight):
                task.cancel()  # its row keeps its lease and is sent again after it (same webhook-id)
            self._outcomes.put_nowait(None)
            await recording

    async def run_once(self) -> bool:
        """Claim a batch of due deliveries and start sending them; True when the batch was full."""
        room = 2 * self._s.concurrency - len(self._inflight)
        if room <= 0:
            await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)
            return True
        limit = min(room, self._s.batch_size)
        async with self._db.sessionmaker() as session, session.begin():
            claimed = list(
                await self._deliveries.claim_due(
                    session, limit=limit, lease=timedelta(seconds=self._s.lease_seconds)
                )
            )
            contacts = await self._sender.load(session, claimed)
        for delivery in claimed:
            task = asyncio.create_task(self._send(delivery, contacts))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        return len(claimed) == limit

    async def _send(self, delivery: Delivery, contacts: Contacts) -> None:
        # The origin's lane first: sends queued for one slow partner hold none of the shared slots.
        async with self._sender.lane(delivery, contacts), self._slots:
            outcome = await self._sender.send(delivery, contacts)
        self._outcomes.put_nowait((delivery.id, outcome))

    async def _record_loop(self) -> None:
        while True:
            first = await self._outcomes.get()
            batch = [first] if first is not None else []
            stop = first is None
            while not self._outcomes.empty() and len(batch) < self._s.record_batch_size:
                item = self._outcomes.get_nowait()
                if item is None:
                    stop = True
                else:
                    batch.append(item)
            if batch:
                await self._record(batch)
                self._wake.set()  # a retry may fall due soon: recompute the wait
            if stop and self._outcomes.empty():
                return

    async def _record(self, batch: list[tuple[uuid.UUID, Outcome]]) -> None:
        for attempt in range(3):
            try:
                async with self._db.sessionmaker() as session, session.begin():
                    await self._recorder.record_many(session, batch)
                return
            except Exception as exc:
                log.warning(
                    "delivery_outcomes_not_recorded", size=len(batch), attempt=attempt + 1, error=str(exc)
                )
                await asyncio.sleep(0.2 * 2**attempt)
        # Not recorded: the rows keep their lease and are sent again after it (same webhook-id).

    async def _idle_timeout(self) -> float:
        async with self._db.sessionmaker() as session:
            due = await self._deliveries.next_due(session)
        if due is None:
            return self._s.poll_seconds
        return min(self._s.poll_seconds, max((due - datetime.now(UTC)).total_seconds(), 0.05))

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def close(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            with contextlib.suppress(Exception):
                await self._listener.close(timeout=2)

    async def _listen(self) -> None:
        try:
            self._listener = await asyncpg.connect(asyncpg_dsn(self._settings.database_url))
            await self._listener.add_listener(WAKE_CHANNEL, lambda *_: self._wake.set())
        except Exception as exc:
            log.warning("delivery_listen_failed", error=str(exc))  # polling still delivers
            self._listener = None


def backoff_seconds(attempt: int, settings: NotificationSettings, rng: random.Random | None = None) -> float:
    """The wait after failed attempt `attempt` (1-based): capped exponential, equal jitter."""
    r = rng or random
    ceiling = min(settings.retry_cap_seconds, settings.retry_base_seconds * 2 ** (attempt - 1))
    return float(ceiling / 2 + r.uniform(0, ceiling / 2))
