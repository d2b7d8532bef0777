"""Alembic, one migration history per component, each in the component's own schema."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

# Migrations of different components may run at once (several pods starting); this lock
# serialises them so that extension and schema creation do not race.
_MIGRATION_LOCK_KEY = 0x7061737361676500  # "passage\0"


def alembic_config(*, schema: str, migrations: Path, database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    cfg.attributes["passage_schema"] = schema
    return cfg


def upgrade(*, schema: str, migrations: Path, database_url: str, revision: str = "head") -> None:
    """Blocking; run it from a thread when an event loop is running."""
    command.upgrade(alembic_config(schema=schema, migrations=migrations, database_url=database_url), revision)


def downgrade(*, schema: str, migrations: Path, database_url: str, revision: str = "base") -> None:
    command.downgrade(
        alembic_config(schema=schema, migrations=migrations, database_url=database_url), revision
    )


async def upgrade_async(*, schema: str, migrations: Path, database_url: str) -> None:
    await asyncio.to_thread(upgrade, schema=schema, migrations=migrations, database_url=database_url)


def run_env(target_metadata: sa.MetaData | None = None) -> None:
    """The body of every component's migrations/env.py."""
    cfg = context.config
    schema: str = cfg.attributes["passage_schema"]

    def migrate(connection: Connection) -> None:
        with _locked(connection):
            connection.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            connection.commit()
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                version_table_schema=schema,
                include_schemas=True,
                include_name=lambda name, type_, _parent: type_ != "schema" or name == schema,
            )
            with context.begin_transaction():
                context.run_migrations()

    async def run() -> None:
        engine = async_engine_from_config(
            cfg.get_section(cfg.config_ini_section) or {}, prefix="sqlalchemy.", poolclass=pool.NullPool
        )
        try:
            async with engine.connect() as connection:
                await connection.run_sync(migrate)
        finally:
            await engine.dispose()

    asyncio.run(run())


@contextlib.contextmanager
def _locked(connection: Connection) -> Iterator[None]:
    connection.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
    connection.commit()
    try:
        yield
    finally:
        connection.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK_KEY})
        connection.commit()
