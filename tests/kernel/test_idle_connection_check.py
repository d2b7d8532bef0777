"""A pooled database connection that sat idle is checked before use, and replaced if the server cut
it; one used a moment ago is handed out without the three-round-trip check."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from passage.db import Database
from passage.settings import Settings


async def backend_pid(database: Database) -> int:
    async with database.engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def cut(db: asyncpg.Connection, pid: int) -> None:
    assert await db.fetchval("SELECT pg_terminate_backend($1)", pid)


async def test_an_idle_connection_the_server_cut_is_replaced_before_use(
    settings: Settings, db: asyncpg.Connection
) -> None:
    database = Database(
        settings.model_copy(update={"database_ping_idle_seconds": 0.0, "database_pool_size": 1}),
        application_name=f"idle-check-{uuid.uuid4().hex[:6]}",
    )
    try:
        first = await backend_pid(database)
        await cut(db, first)
        # Idle longer than the threshold (0 s): checked, found dead, replaced; the caller never knows.
        second = await backend_pid(database)
        assert second != first
    finally:
        await database.dispose()


async def test_a_connection_used_a_moment_ago_is_not_checked(
    settings: Settings, db: asyncpg.Connection
) -> None:
    database = Database(
        settings.model_copy(update={"database_ping_idle_seconds": 3600.0, "database_pool_size": 1}),
        application_name=f"idle-check-{uuid.uuid4().hex[:6]}",
    )
    try:
        first = await backend_pid(database)
        await cut(db, first)
        # Not checked (it was used a moment ago): this one use fails, as a database outage would...
        with pytest.raises(DBAPIError):
            await backend_pid(database)
        # ...and the pool has thrown the dead connection away: the next use gets a live one.
        assert await backend_pid(database) != first
    finally:
        await database.dispose()
