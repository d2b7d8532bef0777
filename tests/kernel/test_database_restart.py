"""PostgreSQL restarted under traffic: callers get 503 with Retry-After while it is down (never a
500), the services recover by themselves, and every committed event is applied exactly once."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from passage.cli.embedded import EmbeddedPostgres, free_port_block
from passage.component import component_names, load_component
from passage.db import asyncpg_dsn
from passage.migrations import upgrade_async
from passage.settings import Settings
from tests.conftest import TokenFactory, bearer
from tests.support import eventually, running

PERSON = {"given_name": "Amina", "family_name": "Diallo", "birth_year": 1994, "sex": "female"}


@pytest.fixture
async def own_postgres(tmp_path: Path) -> AsyncIterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path / "postgres", port=free_port_block(1), durable=False)
    server.start()
    url = server.ensure_database("passage")
    for component in map(load_component, component_names()):
        await upgrade_async(schema=component.schema, migrations=component.migrations, database_url=url)
    yield server
    server.stop()


async def test_a_database_restart_costs_retries_not_errors_or_events(
    settings: Settings, token: TokenFactory, own_postgres: EmbeddedPostgres
) -> None:
    url = own_postgres.url("passage")
    local = settings.model_copy(
        update={
            "database_url": url,
            "nats_namespace": f"pg{uuid.uuid4().hex[:8]}",
            "outbox_poll_seconds": 0.2,
        }
    )
    headers = bearer(token("agency-pg-restart"))

    async def count(sql: str) -> int:
        try:
            conn = await asyncpg.connect(asyncpg_dsn(url))
        except OSError:
            return -1
        try:
            return int(await conn.fetchval(sql))
        finally:
            await conn.close()

    notifications = "SELECT count(*) FROM notifications.in_app_notifications"
    async with running("intake", local) as (_, intake), running("notifications", local):
        for _ in range(3):
            assert (await intake.post("/v1/clients", json=PERSON, headers=headers)).status_code == 201

        async def three() -> bool:
            return await count(notifications) == 3

        await eventually(three)

        own_postgres.stop()
        down = await intake.post("/v1/clients", json=PERSON, headers=headers)
        assert down.status_code == 503, down.text
        assert down.headers["retry-after"] == "2"
        assert down.headers["content-type"] == "application/problem+json"
        assert (await intake.get("/ready")).status_code == 503

        own_postgres.start()  # same folder, same port
        for _ in range(3):
            response = await intake.post("/v1/clients", json=PERSON, headers=headers)
            assert response.status_code == 201, response.text

        async def six() -> bool:
            return await count(notifications) == 6

        await eventually(six, timeout=60)
        assert (await intake.get("/ready")).status_code == 200
    assert await count("SELECT count(*) FROM intake.clients") == 6
    assert await count("SELECT count(*) FROM intake.outbox WHERE published_at IS NULL") == 0
    assert await count("SELECT count(*) FROM notifications.inbox WHERE status = 'processed'") == 6
