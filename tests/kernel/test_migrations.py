"""Every component's migrations go up, come down cleanly, and go up again, in its own schema."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from passage.component import component_names, load_component
from passage.db import asyncpg_dsn
from passage.migrations import downgrade, upgrade
from tests.conftest import Servers


async def tables(dsn: str, schema: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = $1", schema)
    finally:
        await conn.close()
    return {r["tablename"] for r in rows}


@pytest.mark.parametrize("name", component_names())
async def test_migrations_round_trip(name: str, servers: Servers) -> None:
    database = f"passage_migrate_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(asyncpg_dsn(servers.admin_database_url))
    await admin.execute(f'CREATE DATABASE "{database}"')
    url = make_url(servers.admin_database_url).set(database=database).render_as_string(hide_password=False)
    dsn = asyncpg_dsn(url)
    component = load_component(name)
    where = {"schema": component.schema, "migrations": component.migrations, "database_url": url}
    try:
        await asyncio.to_thread(lambda: upgrade(**where))
        created = await tables(dsn, component.schema)
        assert {"outbox", "inbox", "alembic_version"} <= created

        await asyncio.to_thread(lambda: downgrade(**where))
        assert await tables(dsn, component.schema) == {"alembic_version"}

        await asyncio.to_thread(lambda: upgrade(**where))
        assert await tables(dsn, component.schema) == created
        # The component's migrations stay inside its own schema.
        conn = await asyncpg.connect(dsn)
        try:
            schemas = {r["schemaname"] for r in await conn.fetch("SELECT DISTINCT schemaname FROM pg_tables")}
        finally:
            await conn.close()
        assert schemas - {"pg_catalog", "information_schema"} == {component.schema}
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()
