"""The outbox relay: publishes committed outbox rows to JetStream and marks them published.

Safe with several instances (rows are claimed with FOR UPDATE SKIP LOCKED). Woken by
LISTEN/NOTIFY when a transaction with events commits, and by a short poll otherwise.
If it dies after publishing but before marking, the rows are published again: JetStream
drops the copy by `Nats-Msg-Id`, and consumers' inboxes drop it after the window.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import asyncpg
import structlog
from nats.js import JetStreamContext
from sqlalchemy import text

from passage import metrics
from passage.bus.nats import subject
from passage.bus.tables import bus_tables
from passage.db import Database, asyncpg_dsn
from passage.faults import fault_point
from passage.settings import Settings

log = structlog.get_logger(__name__)

_PURGE_EVERY_SECONDS = 600.0


class OutboxRelay:
    def __init__(
        self, *, component: str, schema: str, db: Database, js: JetStreamContext, settings: Settings
    ) -> None:
        self._component = component
        self._tables = bus_tables(schema)
        self._db = db
        self._js = js
        self._settings = settings
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._last_purge = 0.0
        qualified = f"{schema}.outbox"
        self._claim = text(
            f"SELECT seq, event_type, headers, payload FROM {qualified} "  # noqa: S608 - schema is ours
            "WHERE published_at IS NULL ORDER BY seq LIMIT :limit FOR UPDATE SKIP LOCKED"
        )
        self._mark = text(f"UPDATE {qualified} SET published_at = clock_timestamp() WHERE seq = ANY(:seqs)")  # noqa: S608
        self._note_failure = text(
            f"UPDATE {qualified} SET attempts = attempts + 1, last_error = :error "  # noqa: S608
            "WHERE seq = ANY(:seqs)"
        )
        self._purge = text(
            f"DELETE FROM {qualified} WHERE published_at < now() - make_interval(days => :days)"  # noqa: S608
        )

    async def run(self) -> None:
        await self._listen()
        backoff = self._settings.outbox_poll_seconds
        while not self._stopping.is_set():
            # Cleared before the pass, not after: a commit notified during the pass must wake
            # the next one at once instead of waiting for the poll.
            self._wake.clear()
            try:
                while await self.relay_once() >= self._settings.outbox_batch_size:
                    pass  # a full batch: more may be waiting
                await self._maybe_purge()
                backoff = self._settings.outbox_poll_seconds
            except Exception as exc:
                log.warning("outbox_relay_failed", error=str(exc))
                backoff = min(backoff * 2, 10.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=backoff)
            if self._listener is None or self._listener.is_closed():
                await self._listen()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def close(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            with contextlib.suppress(Exception):
                await self._listener.close(timeout=2)

    async def relay_once(self) -> int:
        """Publish one batch of unpublished events; returns how many rows it claimed."""
        async with self._db.engine.begin() as conn:
            rows = (await conn.execute(self._claim, {"limit": self._settings.outbox_batch_size})).all()
            if not rows:
                return 0
            results = await asyncio.gather(
                *(self._publish(row.event_type, row.payload, row.headers) for row in rows),
                return_exceptions=True,
            )
            published = [row.seq for row, res in zip(rows, results, strict=True) if res is None]
            failed = [(row.seq, res) for row, res in zip(rows, results, strict=True) if res is not None]
            fault_point("relay.after_publish")
            if published:
                await conn.execute(self._mark, {"seqs": published})
                metrics.OUTBOX_PUBLISHED.labels(self._component).inc(len(published))
            if failed:
                metrics.OUTBOX_PUBLISH_ERRORS.labels(self._component).inc(len(failed))
                await conn.execute(
                    self._note_failure, {"seqs": [seq for seq, _ in failed], "error": str(failed[0][1])[:500]}
                )
        if failed:
            raise RuntimeError(f"{len(failed)} events could not be published: {failed[0][1]}")
        return len(rows)

    async def _publish(self, event_type: str, payload: bytes, headers: dict[str, Any]) -> None:
        await self._js.publish(
            subject(event_type, self._settings.nats_namespace), payload, headers=headers, timeout=5
        )

    async def _listen(self) -> None:
        try:
            self._listener = await asyncpg.connect(asyncpg_dsn(self._settings.database_url))
            await self._listener.add_listener(self._tables.notify_channel, self._on_notify)
        except Exception as exc:
            # Polling still delivers; LISTEN is only about latency.
            log.warning("outbox_listen_failed", error=str(exc))
            self._listener = None

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _maybe_purge(self) -> None:
        now = time.monotonic()
        if now - self._last_purge < _PURGE_EVERY_SECONDS:
            return
        self._last_purge = now
        async with self._db.engine.begin() as conn:
            await conn.execute(self._purge, {"days": self._settings.outbox_retention_days})
