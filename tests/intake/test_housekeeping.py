"""Housekeeping timers: expired Idempotency-Keys are purged by a durable timer that re-arms itself."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import pytest

from tests.support import eventually


async def test_expired_idempotency_keys_are_purged_by_a_timer_that_rearms_itself(
    intake: httpx.AsyncClient, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASSAGE_INTAKE_IDEMPOTENCY_RETENTION_HOURS", "1")
    scope = f"agency-h\x1fworker-{uuid.uuid4().hex[:6]}"
    for key, minutes in (("two-hours-old", 120), ("half-an-hour-old", 30)):
        await db.execute(
            "INSERT INTO intake.idempotency_keys (scope, key, request_hash, status_code, body, created_at) "
            "VALUES ($1, $2, 'h', 201, '{}'::jsonb, now() - make_interval(mins => $3))",
            scope,
            key,
            minutes,
        )
    timer = "SELECT due_at FROM intake.timer WHERE kind = 'intake_idempotency_purge' AND NOT parked"
    assert await db.fetchval(timer) is not None, "the purge timer is planted when intake starts"
    await db.execute(
        "UPDATE intake.timer SET due_at = now() - interval '1 second' WHERE kind = 'intake_idempotency_purge'"
    )

    async def purged() -> bool:
        left = await db.fetch("SELECT key FROM intake.idempotency_keys WHERE scope = $1", scope)
        return [r["key"] for r in left] == ["half-an-hour-old"]

    await eventually(purged, timeout=10)
    rearmed = await db.fetchval(f"SELECT due_at - now() > interval '30 minutes' FROM ({timer}) t")
    assert rearmed, "after a run the timer waits the purge interval (default 1 h) before the next"
