"""The audit log is append-only and hash-chained; `passage audit verify` catches an edited or
removed record."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.audit.entry import AuditEntry
from gateway.audit.verify import verify_chain
from gateway.audit.writer import AuditWriter
from passage.component import load_component
from passage.db import asyncpg_dsn
from passage.migrations import upgrade_async
from tests.conftest import Servers


@pytest.fixture
async def audit_db(servers: Servers) -> AsyncIterator[str]:
    """A database of its own (gateway schema only): these tests tamper with the log on purpose."""
    name = f"passage_audit_{uuid.uuid4().hex[:10]}"
    admin = asyncpg_dsn(servers.admin_database_url)
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = make_url(servers.admin_database_url).set(database=name).render_as_string(hide_password=False)
    gateway = load_component("gateway")
    await upgrade_async(schema=gateway.schema, migrations=gateway.migrations, database_url=url)
    yield url
    conn = await asyncpg.connect(admin)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


def entry(n: int) -> AuditEntry:
    return AuditEntry(
        actor=f"worker-{n}",
        agency_id="harbour-aid",
        roles=("case_worker",),
        purpose="referral",
        action="read_client",
        outcome="partial",
        request_id=f"req-{n}",
        client_id=uuid.uuid4(),
        released=("identity",),
        withheld={"contact": "no_consent_grants_category"},
        basis={"rule": "consent_and_agreement", "consents": {"identity": str(uuid.uuid4())}},
    )


async def write(url: str, count: int) -> AuditWriter:
    engine = create_async_engine(url)
    writer = AuditWriter(engine)
    writer.start()
    try:
        # Concurrent writers share commits; every one returns only once durable.
        await asyncio.gather(*(writer.write([entry(n)]) for n in range(count)))
    finally:
        await writer.stop()
        await engine.dispose()
    return writer


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


async def run_audit_command(argv: list[str]) -> Ran:
    """`passage audit ...` through the Command the gateway contributes (parsed and run as the CLI does)."""
    (command,) = [c for c in load_component("gateway").commands if c.name == "audit"]
    parser = argparse.ArgumentParser(prog="passage audit")
    command.configure(parser)
    args = parser.parse_args(argv)
    out, err = io.StringIO(), io.StringIO()

    def run() -> int:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            return command.run(args)

    code = await asyncio.to_thread(run)
    return Ran(code, out.getvalue(), err.getvalue())


async def verify_cli(url: str, tmp_path: Path) -> Ran:
    (tmp_path / "dev.json").write_text(json.dumps({"database_url": url}))
    return await run_audit_command(["verify", "--data-dir", str(tmp_path)])


async def test_records_chain_and_verify_intact(audit_db: str, tmp_path: Path) -> None:
    writer = await write(audit_db, 40)
    assert writer.commits < 40, "concurrent appends should share commits"
    conn = await asyncpg.connect(asyncpg_dsn(audit_db))
    try:
        result = await verify_chain(conn)
        rows = await conn.fetch("SELECT seq, prev_hash, hash FROM gateway.audit_log ORDER BY seq")
    finally:
        await conn.close()
    assert result.intact
    assert result.records == 40
    assert result.head_seq == 40
    assert [r["seq"] for r in rows] == list(range(1, 41))
    assert all(rows[i]["prev_hash"] == rows[i - 1]["hash"] for i in range(1, 40))
    done = await verify_cli(audit_db, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "40 records" in done.stdout


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE gateway.audit_log SET actor = 'someone-else' WHERE seq = 1",
        "DELETE FROM gateway.audit_log WHERE seq = 1",
        "TRUNCATE gateway.audit_log",
        "UPDATE gateway.audit_chain_head SET seq = 0",
        "DELETE FROM gateway.audit_chain_head",
    ],
)
async def test_even_a_superuser_cannot_change_or_remove_audit_records(audit_db: str, statement: str) -> None:
    await write(audit_db, 2)
    conn = await asyncpg.connect(asyncpg_dsn(audit_db))
    try:
        assert await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="audit"):
            await conn.execute(statement)
        assert await conn.fetchval("SELECT count(*) FROM gateway.audit_log") == 2
    finally:
        await conn.close()


async def tamper(url: str, statement: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        # Only someone who can switch the triggers off gets this far; the chain still tells.
        async with conn.transaction():
            await conn.execute("ALTER TABLE gateway.audit_log DISABLE TRIGGER USER")
            await conn.execute(statement)
            await conn.execute("ALTER TABLE gateway.audit_log ENABLE TRIGGER USER")
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("statement", "finding"),
    [
        ("UPDATE gateway.audit_log SET purpose = 'emergency' WHERE seq = 3", "record 3 was altered"),
        (
            'UPDATE gateway.audit_log SET released = \'["identity", "health"]\' WHERE seq = 2',
            "record 2 was altered",
        ),
        ("DELETE FROM gateway.audit_log WHERE seq = 3", "records 3..3 are missing"),
        ("DELETE FROM gateway.audit_log WHERE seq = 5", "chain head is at record 5"),
    ],
    ids=["edited-purpose", "edited-released", "removed-middle", "removed-last"],
)
async def test_audit_verify_catches_a_tampered_row(
    audit_db: str, tmp_path: Path, statement: str, finding: str
) -> None:
    await write(audit_db, 5)
    await tamper(audit_db, statement)
    done = await verify_cli(audit_db, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "TAMPERED" in done.stderr
    assert finding in done.stderr


async def test_audit_verify_without_a_database_says_so(tmp_path: Path) -> None:
    done = await run_audit_command(["verify", "--data-dir", str(tmp_path / "nowhere")])
    assert done.returncode == 2
    assert "dev.json" in done.stderr
