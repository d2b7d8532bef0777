"""Durable timers: "do this at that time", kept as rows so they survive restarts.

A component schedules a timer in the same transaction as the change that calls for it (a referral
sent -> its SLA deadline), keyed by (kind, key) so scheduling again moves the deadline instead of
adding a second one. The component's worker polls for due timers and runs each handler in its own
transaction together with the timer's removal: a committed run is done exactly once, a failed one
is retried with backoff and parked after `consumer_max_deliver` tries, never dropped. Several
replicas share the table safely (`FOR UPDATE SKIP LOCKED`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlmodel.ext.asyncio.session import AsyncSession

from passage import metrics
from passage.db import Database
from passage.settings import Settings

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class DueTimer:
    kind: str
    key: str
    due_at: datetime
    payload: dict[str, Any]
    attempts: int  # earlier failed runs


TimerHandler = Callable[[AsyncSession, DueTimer], Awaitable[None]]


def _define(metadata: sa.MetaData, schema: str) -> sa.Table:
    return sa.Table(
        "timer",
        metadata,
        sa.Column("kind", sa.Text, primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        # parked: it failed every try and waits for a person; it is never silently dropped.
        sa.Column("parked", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Index(f"ix_{schema}_timer_due", "due_at", postgresql_where=sa.text("NOT parked")),
        schema=schema,
    )


@cache
def timer_table(schema: str) -> sa.Table:
    return _define(sa.MetaData(), schema)


def create_timer_table(bind: sa.Connection, schema: str) -> None:
    """For a component migration. Later changes to this table get migrations of their own."""
    _define(sa.MetaData(), schema).create(bind)


def drop_timer_table(bind: sa.Connection, schema: str) -> None:
    _define(sa.MetaData(), schema).drop(bind)


class Timers:
    """Schedules and cancels a component's timers inside the caller's transaction."""

    def __init__(self, schema: str) -> None:
        self.schema = schema

    @property
    def table(self) -> sa.Table:
        return timer_table(self.schema)

    async def schedule(
        self,
        session: AsyncSession,
        *,
        kind: str,
        key: str,
        due_at: datetime,
        payload: Mapping[str, Any] | None = None,
    ) -> None:
        """Arm (or move and re-arm) the timer (kind, key)."""
        if due_at.tzinfo is None:
            raise ValueError("due_at must be timezone-aware")
        body = json.loads(json.dumps(dict(payload or {}), default=str))
        statement = insert(self.table).values(kind=kind, key=key, due_at=due_at, payload=body)
        statement = statement.on_conflict_do_update(
            index_elements=["kind", "key"],
            set_={"due_at": due_at, "payload": body, "attempts": 0, "parked": False, "last_error": None},
        )
        await session.exec(statement)

    async def cancel(self, session: AsyncSession, *, kind: str, key: str) -> bool:
        t = self.table
        result = await session.exec(sa.delete(t).where(t.c.kind == kind, t.c.key == key).returning(t.c.key))
        return result.first() is not None

    async def pending(self, session: AsyncSession, *, kind: str, key: str) -> DueTimer | None:
        t = self.table
        conn = await session.connection()
        row = (await conn.execute(sa.select(t).where(t.c.kind == kind, t.c.key == key))).first()
        if row is None:
            return None
        return DueTimer(row.kind, row.key, row.due_at, dict(row.payload), row.attempts)


class TimerWorker:
    """Runs a component's due timers. One per component process; replicas cooperate."""

    def __init__(
        self,
        *,
        component: str,
        schema: str,
        handlers: Mapping[str, TimerHandler],
        db: Database,
        settings: Settings,
    ) -> None:
        self._component = component
        self._table = timer_table(schema)
        self._handlers = dict(handlers)
        self._db = db
        self._settings = settings
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                while await self.fire_due() > 0 and not self._stopping.is_set():
                    pass
            except Exception as exc:
                log.warning("timer_poll_failed", component=self._component, error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._settings.timer_poll_seconds)

    def stop(self) -> None:
        self._stopping.set()

    async def fire_due(self, *, limit: int = 50) -> int:
        """Run up to `limit` due timers, each in its own transaction; returns how many were run."""
        fired = 0
        for _ in range(limit):
            if self._stopping.is_set():
                break
            outcome = await self._fire_one()
            if outcome is None:
                break
            fired += 1
        return fired

    async def _fire_one(self) -> bool | None:
        t = self._table
        claim = (
            sa.select(t)
            .where(~t.c.parked, t.c.due_at <= sa.func.now(), t.c.kind.in_(list(self._handlers)))
            .order_by(t.c.due_at)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        async with self._db.sessionmaker() as session:
            async with session.begin():
                row = (await (await session.connection()).execute(claim)).first()
                if row is None:
                    return None
                timer = DueTimer(row.kind, row.key, row.due_at, dict(row.payload), row.attempts)
                try:
                    async with session.begin_nested():
                        await self._handlers[timer.kind](session, timer)
                        # Removed only if nobody re-armed it to a later time inside the handler.
                        await session.exec(
                            sa.delete(t).where(
                                t.c.kind == timer.kind, t.c.key == timer.key, t.c.due_at <= timer.due_at
                            )
                        )
                except Exception as exc:
                    await self._failed(session, timer, exc)
                    metrics.TIMERS_FIRED.labels(self._component, timer.kind, "failed").inc()
                    return False
            metrics.TIMERS_FIRED.labels(self._component, timer.kind, "done").inc()
            return True

    async def _failed(self, session: AsyncSession, timer: DueTimer, exc: Exception) -> None:
        t = self._table
        attempts = timer.attempts + 1
        parked = attempts >= self._settings.consumer_max_deliver
        delay = min(0.5 * 2 ** (attempts - 1), 300.0)
        log.log(
            40 if parked else 30,
            "timer_parked" if parked else "timer_retry",
            component=self._component,
            kind=timer.kind,
            key=timer.key,
            attempts=attempts,
            retry_in=None if parked else delay,
            error=str(exc),
        )
        await session.exec(
            sa.update(t)
            .where(t.c.kind == timer.kind, t.c.key == timer.key)
            .values(
                attempts=attempts,
                parked=parked,
                last_error=f"{type(exc).__name__}: {exc}"[:1000],
                due_at=datetime.now(UTC) + timedelta(seconds=delay),
            )
        )
