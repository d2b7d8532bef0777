"""Real PostgreSQL and real NATS for the whole session: the embedded ones on ports chosen at run
time, or external ones when PASSAGE_DATABASE_URL / PASSAGE_NATS_URL are set. Each session
migrates a database of its own, and drops it at the end."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import nats
import pytest
from nats.aio.client import Client as NATS
from sqlalchemy.engine import make_url

from passage.cli.embedded import EmbeddedNats, EmbeddedPostgres
from passage.component import component_names, load_component
from passage.db import asyncpg_dsn
from passage.devkeys import DEV_AUDIENCE, DEV_ISSUER, ensure_dev_keys, mint_token
from passage.migrations import upgrade_async
from passage.settings import Settings
from tests.devstack import DevStack, dev_env, running_dev


@dataclass(frozen=True)
class Servers:
    admin_database_url: str  # a database on the server we may create other databases from
    nats_url: str
    embedded: bool


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    root = tmp_path_factory.mktemp("servers")
    external_db = os.environ.get("PASSAGE_DATABASE_URL")
    external_nats = os.environ.get("PASSAGE_NATS_URL")
    postgres = nats_server = None
    try:
        if external_db:
            db_url = Settings(env="dev", database_url=external_db).database_url
        else:
            postgres = EmbeddedPostgres(root / "postgres", durable=False)
            postgres.start()
            db_url = postgres.url("postgres")
        if external_nats:
            nats_url = external_nats
        else:
            nats_server = EmbeddedNats(root / "nats")
            nats_server.start()
            nats_url = nats_server.url
        yield Servers(db_url, nats_url, embedded=not (external_db or external_nats))
    finally:
        if nats_server is not None:
            nats_server.stop()
        if postgres is not None:
            postgres.stop()


def _test_components() -> list[str]:
    """Every component, or those named in PASSAGE_TEST_COMPONENTS (a comma list) for a focused run."""
    names = component_names()
    chosen = [n.strip() for n in os.environ.get("PASSAGE_TEST_COMPONENTS", "").split(",") if n.strip()]
    unknown = set(chosen) - set(names)
    if unknown:
        raise pytest.UsageError(f"PASSAGE_TEST_COMPONENTS names unknown components: {sorted(unknown)}")
    return [n for n in names if n in chosen] if chosen else names


@pytest.fixture(scope="session")
async def database_url(servers: Servers) -> AsyncIterator[str]:
    name = f"passage_test_{uuid.uuid4().hex[:10]}"
    admin = asyncpg_dsn(servers.admin_database_url)
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = make_url(servers.admin_database_url).set(database=name).render_as_string(hide_password=False)
    for component in map(load_component, _test_components()):
        await upgrade_async(schema=component.schema, migrations=component.migrations, database_url=url)
    yield url
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def dev_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return ensure_dev_keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="session")
def settings(database_url: str, servers: Servers, dev_keys: tuple[Path, Path]) -> Settings:
    return Settings(
        env="dev",
        database_url=database_url,
        nats_url=servers.nats_url,
        jwt_public_key_file=dev_keys[1],
        jwt_private_key_file=dev_keys[0],
        jwt_issuer=DEV_ISSUER,
        jwt_audience=DEV_AUDIENCE,
        consumer_ack_wait_seconds=2.0,
        outbox_poll_seconds=0.2,
        graceful_shutdown_seconds=2.0,
        log_json=False,
    )


TokenFactory = Callable[..., str]


@pytest.fixture(scope="session")
def token(dev_keys: tuple[Path, Path]) -> TokenFactory:
    def make(agency: str = "agency-a", roles: tuple[str, ...] = ("case_worker",), **kwargs: object) -> str:
        return mint_token(dev_keys[0], agency=agency, roles=roles, **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture
async def nc(servers: Servers) -> AsyncIterator[NATS]:
    client = await nats.connect(servers.nats_url)
    yield client
    await client.close()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A plain connection to the test database, for looking at what the services stored."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    yield conn
    await conn.close()


def bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


def _in_thread(coro_fn: Callable[[], Awaitable[None]]) -> None:
    """Run a coroutine to completion from sync code, whether or not a loop runs in this thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coro_fn()).result(60)


async def _admin_execute(servers: Servers, sql: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(servers.admin_database_url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def fresh_database(servers: Servers) -> Iterator[Callable[[], str | None]]:
    """Makes empty databases on the external server for `passage dev` runs (None when embedded)."""
    made: list[str] = []

    def make() -> str | None:
        if not os.environ.get("PASSAGE_DATABASE_URL"):
            return None
        name = f"passage_dev_{uuid.uuid4().hex[:10]}"
        made.append(name)
        _in_thread(lambda: _admin_execute(servers, f'CREATE DATABASE "{name}"'))
        return make_url(servers.admin_database_url).set(database=name).render_as_string(hide_password=False)

    yield make
    for name in made:
        _in_thread(
            lambda name=name: _admin_execute(servers, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        )


@pytest.fixture(scope="session")
def dev_stack(
    tmp_path_factory: pytest.TempPathFactory, fresh_database: Callable[[], str | None]
) -> Iterator[DevStack]:
    """One `passage dev --demo` for the session's end-to-end and contract tests."""
    with running_dev(tmp_path_factory.mktemp("dev") / "data", dev_env(fresh_database()), demo=True) as stack:
        yield stack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The schemathesis fuzz runs last: it changes the shared `passage dev` stack at random (agency
    preferences, recipients, webhooks), which the end-to-end tests must not inherit."""
    items.sort(key=lambda item: "tests/contract/" in item.nodeid.replace("\\", "/"))
