"""Durable timers: fired once when due, moved by rescheduling, retried then parked, shared by workers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from passage.db import Database
from passage.settings import Settings
from passage.timers import DueTimer, TimerHandler, Timers, TimerWorker, create_timer_table
from tests.support import eventually

SCHEMA = "timer_test"
timers = Timers(SCHEMA)


@pytest.fixture(scope="module")
async def database(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings, application_name="passage-tests")
    async with database.engine.begin() as conn:
        await conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
        await conn.run_sync(lambda sync: create_timer_table(sync, SCHEMA))
        await conn.execute(sa.text(f"CREATE TABLE {SCHEMA}.effect (kind text, key text, at timestamptz)"))
    yield database
    async with database.engine.begin() as conn:
        await conn.execute(sa.text(f"DROP SCHEMA {SCHEMA} CASCADE"))
    await database.dispose()


async def record_effect(session: AsyncSession, timer: DueTimer) -> None:
    await session.execute(
        sa.text(f"INSERT INTO {SCHEMA}.effect VALUES (:kind, :key, now())"),
        {"kind": timer.kind, "key": timer.key},
    )


def worker(database: Database, settings: Settings, handlers: dict[str, TimerHandler]) -> TimerWorker:
    fast = settings.model_copy(update={"timer_poll_seconds": 0.05, "consumer_max_deliver": 3})
    return TimerWorker(component="tests", schema=SCHEMA, handlers=handlers, db=database, settings=fast)


async def schedule(database: Database, kind: str, key: str, due_in: float, **payload: object) -> None:
    async with database.sessionmaker() as session, session.begin():
        await timers.schedule(
            session, kind=kind, key=key, due_at=datetime.now(UTC) + timedelta(seconds=due_in), payload=payload
        )


async def effects(db: asyncpg.Connection, key: str) -> int:
    return int(await db.fetchval(f"SELECT count(*) FROM {SCHEMA}.effect WHERE key = $1", key))


async def test_a_due_timer_fires_once_and_is_removed(
    database: Database, settings: Settings, db: asyncpg.Connection
) -> None:
    key = uuid.uuid4().hex
    await schedule(database, "sla", key, due_in=-1, referral=key)
    seen: list[DueTimer] = []

    async def handler(session: AsyncSession, timer: DueTimer) -> None:
        seen.append(timer)
        await record_effect(session, timer)

    w = worker(database, settings, {"sla": handler})
    assert await w.fire_due() >= 1
    assert await w.fire_due() == 0
    assert await effects(db, key) == 1
    assert [t.payload for t in seen if t.key == key] == [{"referral": key}]
    async with database.sessionmaker() as session:
        assert await timers.pending(session, kind="sla", key=key) is None


async def test_a_timer_not_yet_due_waits_and_rescheduling_moves_it(
    database: Database, settings: Settings, db: asyncpg.Connection
) -> None:
    key = uuid.uuid4().hex
    await schedule(database, "sla", key, due_in=-1)
    await schedule(database, "sla", key, due_in=3600)  # the same (kind, key): moved, not duplicated
    w = worker(database, settings, {"sla": record_effect})
    await w.fire_due()
    assert await effects(db, key) == 0
    async with database.sessionmaker() as session:
        pending = await timers.pending(session, kind="sla", key=key)
    assert pending is not None
    assert pending.due_at > datetime.now(UTC) + timedelta(minutes=59)


async def test_a_cancelled_timer_never_fires(
    database: Database, settings: Settings, db: asyncpg.Connection
) -> None:
    key = uuid.uuid4().hex
    await schedule(database, "sla", key, due_in=-1)
    async with database.sessionmaker() as session, session.begin():
        assert await timers.cancel(session, kind="sla", key=key)
        assert not await timers.cancel(session, kind="sla", key=key)
    await worker(database, settings, {"sla": record_effect}).fire_due()
    assert await effects(db, key) == 0


async def test_a_failing_handler_is_retried_with_backoff_then_parked_and_its_effect_rolled_back(
    database: Database, settings: Settings, db: asyncpg.Connection
) -> None:
    key = uuid.uuid4().hex
    await schedule(database, "flaky", key, due_in=-1)

    async def fails(session: AsyncSession, timer: DueTimer) -> None:
        await record_effect(session, timer)  # rolled back with the failure
        raise RuntimeError("provider down")

    w = worker(database, settings, {"flaky": fails})
    assert await w.fire_due() == 1
    row = await db.fetchrow(f"SELECT * FROM {SCHEMA}.timer WHERE key = $1", key)
    assert row["attempts"] == 1
    assert not row["parked"]
    assert "provider down" in row["last_error"]
    assert row["due_at"] > datetime.now(UTC), "a retry waits for its backoff"
    for _ in range(2):
        await db.execute(
            f"UPDATE {SCHEMA}.timer SET due_at = now() - interval '1 second' WHERE key = $1", key
        )
        await w.fire_due()
    row = await db.fetchrow(f"SELECT * FROM {SCHEMA}.timer WHERE key = $1", key)
    assert row["attempts"] == 3
    assert row["parked"], "after max_deliver tries it waits for a person"
    await db.execute(f"UPDATE {SCHEMA}.timer SET due_at = now() - interval '1 second' WHERE key = $1", key)
    assert await w.fire_due() == 0, "a parked timer is not retried"
    assert await effects(db, key) == 0


async def test_timers_survive_the_worker_and_two_workers_fire_each_once(
    database: Database, settings: Settings, db: asyncpg.Connection
) -> None:
    """Timers are rows: a worker started later (after a restart) finds them, and replicas share them."""
    keys = [f"shared-{uuid.uuid4().hex}" for _ in range(30)]
    for key in keys:
        await schedule(database, "shared", key, due_in=-1)
    second_db = Database(settings, application_name="passage-tests-2")
    try:
        workers = [
            worker(database, settings, {"shared": record_effect}),
            worker(second_db, settings, {"shared": record_effect}),
        ]
        tasks = [asyncio.create_task(w.run()) for w in workers]

        async def all_fired() -> bool:
            n = await db.fetchval(f"SELECT count(*) FROM {SCHEMA}.effect WHERE key LIKE 'shared-%'")
            return bool(n >= len(keys))

        await eventually(all_fired, timeout=20)
        for w in workers:
            w.stop()
        await asyncio.gather(*tasks)
    finally:
        await second_db.dispose()
    counts = await db.fetch(
        f"SELECT key, count(*) AS n FROM {SCHEMA}.effect WHERE key = ANY($1::text[]) GROUP BY key",
        keys,
    )
    assert len(counts) == len(keys)
    assert {r["n"] for r in counts} == {1}
