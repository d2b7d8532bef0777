"""Idempotency-Key and If-Match, the kernel helpers every service may adopt (passage.idempotency,
passage.concurrency), on a small app of their own over the real test database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from passage.auth import AuthSubject
from passage.concurrency import PreconditionRequired, check_if_match, etag, parse_if_match
from passage.errors import BadRequest, PreconditionFailed, install_error_handlers
from passage.idempotency import Idempotency, IdempotencyKey, create_idempotency_table

SCHEMA = "idempotency_test"


@pytest.fixture(scope="module")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
        await conn.execute(sa.text(f'CREATE SCHEMA "{SCHEMA}"'))
        await conn.run_sync(lambda sync: create_idempotency_table(sync, SCHEMA))
        await conn.execute(sa.text(f'CREATE TABLE "{SCHEMA}".things (id uuid PRIMARY KEY, name text)'))
    yield engine
    async with engine.begin() as conn:
        await conn.execute(sa.text(f'DROP SCHEMA "{SCHEMA}" CASCADE'))
    await engine.dispose()


@pytest.fixture(scope="module")
async def app_client(engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    keys = Idempotency(SCHEMA)
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/things")
    async def create(
        request: Request, body: dict[str, Any], x_caller: str = Header(), key: IdempotencyKey = None
    ) -> JSONResponse:
        subject = AuthSubject(sub=x_caller, agency="agency-t", roles=frozenset({"case_worker"}))
        async with AsyncSession(engine, expire_on_commit=False) as session:

            async def action() -> dict[str, Any]:
                if body.get("fail"):
                    raise BadRequest("asked to fail")
                await asyncio.sleep(float(body.get("slow", 0)))
                thing_id = uuid.uuid4()
                await session.exec(  # type: ignore[call-overload]
                    sa.text(f'INSERT INTO "{SCHEMA}".things VALUES (:id, :name)'),
                    params={"id": thing_id, "name": body["name"]},
                )
                return {"id": str(thing_id), "name": body["name"]}

            try:
                response = await keys.respond(
                    session,
                    request,
                    subject,
                    key,
                    action,
                    headers=lambda r: {"Location": f"/things/{r['id']}"},
                )
            except BaseException:
                await session.rollback()
                raise
            await session.commit()
            return response

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://idem") as client:
        yield client


async def things(engine: AsyncEngine, name: str) -> int:
    async with engine.connect() as conn:
        return int(
            (
                await conn.execute(
                    sa.text(f'SELECT count(*) FROM "{SCHEMA}".things WHERE name = :n'), {"n": name}
                )
            ).scalar_one()
        )


def headers(key: str | None, caller: str = "alice") -> dict[str, str]:
    return {"X-Caller": caller, **({"Idempotency-Key": key} if key else {})}


async def test_a_retry_with_the_same_key_gets_the_first_answer_and_makes_one_record(
    app_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    key = str(uuid.uuid4())
    first = await app_client.post("/things", json={"name": "retry-1"}, headers=headers(key))
    again = await app_client.post(
        "/things",
        content=b'{ "name" :  "retry-1" }',
        headers={**headers(key), "content-type": "application/json"},
    )
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert await things(engine, "retry-1") == 1


async def test_the_same_key_with_another_body_is_refused(
    app_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    key = str(uuid.uuid4())
    assert (
        await app_client.post("/things", json={"name": "body-a"}, headers=headers(key))
    ).status_code == 201
    other = await app_client.post("/things", json={"name": "body-b"}, headers=headers(key))
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "header.Idempotency-Key"
    assert await things(engine, "body-b") == 0


async def test_keys_are_scoped_to_the_caller(app_client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    key = "shared-key"
    a = await app_client.post("/things", json={"name": "scoped"}, headers=headers(key, "alice"))
    b = await app_client.post("/things", json={"name": "scoped"}, headers=headers(key, "bob"))
    assert a.json()["id"] != b.json()["id"]
    assert await things(engine, "scoped") == 2


async def test_concurrent_requests_with_one_key_make_one_record(
    app_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    key = str(uuid.uuid4())
    answers = await asyncio.gather(
        *[
            app_client.post("/things", json={"name": "race", "slow": 0.2}, headers=headers(key))
            for _ in range(5)
        ]
    )
    assert {r.status_code for r in answers} == {201}
    assert len({r.json()["id"] for r in answers}) == 1
    assert await things(engine, "race") == 1


async def test_a_failed_request_is_not_remembered(app_client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    key = str(uuid.uuid4())
    failed = await app_client.post("/things", json={"name": "flaky", "fail": True}, headers=headers(key))
    assert failed.status_code == 400
    # The caller fixes the request and retries: the key is free, since nothing was done.
    fixed = await app_client.post("/things", json={"name": "flaky"}, headers=headers(key))
    assert fixed.status_code == 201
    assert await things(engine, "flaky") == 1


async def test_without_a_key_every_post_runs(app_client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    for _ in range(2):
        assert (
            await app_client.post("/things", json={"name": "keyless"}, headers=headers(None))
        ).status_code == 201
    assert await things(engine, "keyless") == 2


def test_if_match_rules() -> None:
    assert etag(3) == '"3"'
    assert parse_if_match('W/"3", "4"') == {3, 4}
    assert parse_if_match("*") is None
    check_if_match('"3"', 3)
    check_if_match("*", 9)
    check_if_match(None, 3, required=False)
    with pytest.raises(PreconditionFailed):
        check_if_match('"2"', 3)
    with pytest.raises(PreconditionRequired):
        check_if_match(None, 3)
    with pytest.raises(BadRequest):
        check_if_match('"abc"', 3)


async def test_purge_forgets_keys_past_retention_in_bounded_batches(engine: AsyncEngine) -> None:
    keys = Idempotency(SCHEMA)
    scope = f"agency-p\x1fpurger-{uuid.uuid4().hex[:6]}"
    ages = {"old-1": 30, "old-2": 26, "old-3": 25, "fresh": 1}  # hours
    async with engine.begin() as conn:
        for key, hours in ages.items():
            await conn.execute(
                sa.text(
                    f'INSERT INTO "{SCHEMA}".idempotency_keys (scope, key, request_hash, created_at) '
                    "VALUES (:scope, :key, 'h', now() - make_interval(hours => :hours))"
                ),
                {"scope": scope, "key": key, "hours": hours},
            )

    async def purge(**kwargs: Any) -> int:
        async with AsyncSession(engine) as session:
            removed = await keys.purge(session, **kwargs)
            await session.commit()
            return removed

    async def left() -> set[str]:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.text(f'SELECT key FROM "{SCHEMA}".idempotency_keys WHERE scope = :s'), {"s": scope}
            )
            return {row[0] for row in rows}

    assert await purge(limit=2) == 2
    assert await left() == {"old-3", "fresh"}  # the oldest go first
    assert await purge(limit=2) == 1
    assert await purge(limit=2) == 0
    assert await left() == {"fresh"}
    assert await purge(older_than=timedelta(minutes=30)) >= 1
    assert await left() == set()
