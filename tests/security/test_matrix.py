"""The security matrix: every row is an attempt the gateway must refuse, and must audit.

Each request carries its own X-Request-ID; after the answer, the audit log must hold a `refused`
record with that request id. Intake runs for real behind the gateway (loopback HTTP)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jwt
import pytest

from passage.db import asyncpg_dsn
from passage.devkeys import DEV_AUDIENCE, DEV_ISSUER
from passage.settings import Settings
from tests.conftest import TokenFactory, bearer
from tests.gateway.stack import forged_token, gateway_stack

OWNER, OTHER = "sec-harbour", "sec-bridge"
PERSON = {
    "given_name": "Fatou",
    "family_name": "Ndiaye",
    "birth_year": 1990,
    "sex": "female",
    "phone": "+221700000000",
}


@dataclass
class Stack:
    http: httpx.AsyncClient
    intake: str
    db_url: str
    client_id: str
    token: TokenFactory
    dev_keys: tuple[Path, Path]
    extra: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
async def stack(settings: Settings, token: TokenFactory, dev_keys: tuple[Path, Path]) -> AsyncIterator[Stack]:
    async with gateway_stack(settings, services=("intake", "referrals")) as (_, http, urls):
        async with httpx.AsyncClient(base_url=urls["intake"]) as intake:
            created = await intake.post("/v1/clients", json=PERSON, headers=bearer(token(OWNER)))
            assert created.status_code == 201, created.text
        yield Stack(http, urls["intake"], settings.database_url, created.json()["id"], token, dev_keys)


def none_alg_token() -> str:
    now = int(time.time())
    claims = {
        "iss": DEV_ISSUER,
        "aud": DEV_AUDIENCE,
        "sub": "mallory",
        "agency": OWNER,
        "roles": ["supervisor"],
        "exp": now + 600,
    }
    return jwt.encode(claims, None, algorithm="none")


@dataclass(frozen=True)
class Attempt:
    name: str
    query: str
    code: str
    auth: Callable[[Stack], str | None] = lambda s: s.token(OWNER, roles=("case_worker",))
    purpose: str | None = "case_management"
    variables: Callable[[Stack], dict[str, Any]] = lambda s: {"id": s.client_id}


CLIENT_Q = "query($id: ID!) { client(id: $id) { id givenName phone } }"
DEEP = "query($id: ID!) { client(id: $id) { id } " + "me { sub } " + "}"


def depth_bomb() -> str:
    # Nest fragments of the same type through aliases of `me`: rejected for depth before execution.
    inner = "sub"
    for _ in range(12):
        inner = f"... on Query {{ me {{ {inner} }} }}"
    return "query { me { sub } __typename " + inner + " }"


ATTEMPTS = [
    Attempt("no-token", CLIENT_Q, "UNAUTHENTICATED", auth=lambda s: None),
    Attempt("forged-token", CLIENT_Q, "UNAUTHENTICATED", auth=lambda s: forged_token(OWNER)),
    Attempt("expired-token", CLIENT_Q, "UNAUTHENTICATED", auth=lambda s: s.token(OWNER, ttl_seconds=-120)),
    Attempt("alg-none-token", CLIENT_Q, "UNAUTHENTICATED", auth=lambda s: none_alg_token()),
    Attempt(
        "unknown-issuer",
        CLIENT_Q,
        "UNAUTHENTICATED",
        auth=lambda s: s.token(OWNER, issuer="https://evil.example"),
    ),
    Attempt("missing-purpose", CLIENT_Q, "BAD_USER_INPUT", purpose=None),
    Attempt("unknown-purpose", CLIENT_Q, "BAD_USER_INPUT", purpose="curiosity"),
    Attempt("purpose-not-allowed-for-role", CLIENT_Q, "FORBIDDEN", purpose="statistics"),
    Attempt(
        "emergency-without-break-glass",
        CLIENT_Q,
        "FORBIDDEN",
        auth=lambda s: s.token(OWNER, roles=("supervisor",)),
        purpose="emergency",
    ),
    Attempt(
        "break-glass-by-case-worker",
        'mutation($id: ID!) { breakGlass(clientId: $id, reason: "the client said she is in danger", '
        "minutes: 30) { id } }",
        "FORBIDDEN",
        purpose="case_management",
    ),
    Attempt(
        "coordinator-asks-for-a-client",
        CLIENT_Q,
        "FORBIDDEN",
        auth=lambda s: s.token(OWNER, roles=("coordinator",)),
        purpose="statistics",
    ),
    Attempt(
        "supervisor-under-statistics-purpose",
        CLIENT_Q,
        "FORBIDDEN",
        auth=lambda s: s.token(OWNER, roles=("supervisor",)),
        purpose="statistics",
    ),
    Attempt("id-guessing", CLIENT_Q, "NOT_FOUND", variables=lambda s: {"id": str(uuid.uuid4())}),
    Attempt(
        "other-agency-without-consent-or-agreement",
        CLIENT_Q,
        "NOT_FOUND",
        auth=lambda s: s.token(OTHER, roles=("supervisor",)),
        purpose="referral",
    ),
    Attempt(
        "other-agency-access-log",
        "query($id: ID!) { accessLog(clientId: $id) { edges { node { actor } } } }",
        "NOT_FOUND",
        auth=lambda s: s.token(OTHER),
    ),
    Attempt(
        "audit-trail-by-case-worker",
        "query { auditTrail { edges { node { actor } } } }",
        "FORBIDDEN",
    ),
    Attempt("depth-bomb", depth_bomb(), "BAD_USER_INPUT", variables=lambda s: {}),
    Attempt(
        "alias-bomb",
        "query { " + " ".join(f"a{i}: me {{ sub }}" for i in range(40)) + " }",
        "BAD_USER_INPUT",
        variables=lambda s: {},
    ),
    Attempt(
        "cost-bomb",
        "query { clients(first: 100) { edges { node { "
        + " ".join(f"f{i}: givenName" for i in range(10))
        + " phone email sex gender nationality area birthYear birthDate otherNames identityDocuments "
        "vulnerabilities preferredLanguage interpreterNeeded migrationPhase familyName "
        "preferredContactChannel sensitive sensitivityReasons status version agencyId createdAt updatedAt "
        "} } } a: clients(first: 100) { edges { node { id givenName familyName phone email area sex "
        "gender nationality birthYear birthDate otherNames identityDocuments vulnerabilities } } } }",
        "BAD_USER_INPUT",
        variables=lambda s: {},
    ),
    Attempt(
        "oversized-page",
        "query { clients(first: 5000) { edges { node { id } } } }",
        "BAD_USER_INPUT",
        variables=lambda s: {},
    ),
    Attempt("malformed-id", CLIENT_Q, "BAD_USER_INPUT", variables=lambda s: {"id": "../../etc/passwd"}),
    Attempt(
        "break-glass-without-a-reason",
        'mutation($id: ID!) { breakGlass(clientId: $id, reason: "x", minutes: 30) { id } }',
        "BAD_USER_INPUT",
        auth=lambda s: s.token(OWNER, roles=("supervisor",)),
        purpose="emergency",
    ),
    Attempt(
        "break-glass-for-too-long",
        'mutation($id: ID!) { breakGlass(clientId: $id, reason: "overdose reported by a neighbour", '
        "minutes: 600) { id } }",
        "BAD_USER_INPUT",
        auth=lambda s: s.token(OWNER, roles=("supervisor",)),
        purpose="emergency",
    ),
]


async def audited_refusal(db_url: str, request_id: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        return await conn.fetch(
            "SELECT outcome, detail FROM gateway.audit_log WHERE request_id = $1 AND outcome = 'refused'",
            request_id,
        )
    finally:
        await conn.close()


@pytest.mark.parametrize("attempt", ATTEMPTS, ids=lambda a: a.name)
async def test_attempt_is_refused_and_audited(stack: Stack, attempt: Attempt) -> None:
    request_id = f"sec-{attempt.name}-{uuid.uuid4().hex[:8]}"
    headers = {"X-Request-ID": request_id}
    tok = attempt.auth(stack)
    if tok is not None:
        headers |= bearer(tok)
    if attempt.purpose is not None:
        headers["X-Purpose-Of-Use"] = attempt.purpose
    response = await stack.http.post(
        "/graphql", json={"query": attempt.query, "variables": attempt.variables(stack)}, headers=headers
    )
    body = response.json()
    assert body.get("data") in (None, {}) or all(v is None for v in (body.get("data") or {}).values()), body
    codes = [e.get("extensions", {}).get("code") for e in body.get("errors", [])]
    assert attempt.code in codes, body
    assert "Fatou" not in response.text
    assert "+221" not in response.text
    assert await audited_refusal(stack.db_url, request_id), "the refusal left no audit record"


async def test_break_glass_after_its_window_is_refused_and_audited(stack: Stack) -> None:
    sub = f"supervisor-{uuid.uuid4().hex[:6]}"
    conn = await asyncpg.connect(asyncpg_dsn(stack.db_url))
    try:
        past = datetime.now(UTC) - timedelta(hours=2)
        await conn.execute(
            "INSERT INTO gateway.breakglass_grants (id, client_id, client_agency_id, actor, agency_id,"
            " reason, minutes,"
            " started_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, 30, $7, $8)",
            uuid.uuid4(),
            uuid.UUID(stack.client_id),
            OWNER,
            sub,
            OWNER,
            "a window that has closed",
            past,
            past + timedelta(minutes=30),
        )
    finally:
        await conn.close()
    request_id = f"sec-expired-glass-{uuid.uuid4().hex[:8]}"
    headers = bearer(stack.token(OWNER, roles=("supervisor",), sub=sub)) | {
        "X-Purpose-Of-Use": "emergency",
        "X-Request-ID": request_id,
    }
    response = await stack.http.post(
        "/graphql", json={"query": CLIENT_Q, "variables": {"id": stack.client_id}}, headers=headers
    )
    codes = [e["extensions"]["code"] for e in response.json()["errors"]]
    assert codes == ["FORBIDDEN"]
    assert await audited_refusal(stack.db_url, request_id)


async def test_the_owning_case_worker_reads_the_client_and_the_read_is_audited(stack: Stack) -> None:
    request_id = f"sec-own-{uuid.uuid4().hex[:8]}"
    headers = bearer(stack.token(OWNER)) | {"X-Purpose-Of-Use": "case_management", "X-Request-ID": request_id}
    response = await stack.http.post(
        "/graphql", json={"query": CLIENT_Q, "variables": {"id": stack.client_id}}, headers=headers
    )
    body = response.json()
    assert body["data"]["client"]["givenName"] == "Fatou", body
    conn = await asyncpg.connect(asyncpg_dsn(stack.db_url))
    try:
        row = await conn.fetchrow(
            "SELECT outcome, released, basis FROM gateway.audit_log WHERE request_id = $1", request_id
        )
    finally:
        await conn.close()
    assert row is not None
    assert row["outcome"] in ("released", "partial")
    assert '"identity"' in row["released"]
    assert "owning_agency_by_role" in row["basis"]


async def test_a_summary_only_role_gets_nulls_and_the_policy_extension(stack: Stack) -> None:
    headers = bearer(stack.token(OWNER, roles=("agency_admin",))) | {"X-Purpose-Of-Use": "case_management"}
    response = await stack.http.post(
        "/graphql", json={"query": CLIENT_Q, "variables": {"id": stack.client_id}}, headers=headers
    )
    body = response.json()
    assert body["data"]["client"] == {"id": stack.client_id, "givenName": "Fatou", "phone": None}, body
    assert {"path": ["client", "phone"], "category": "contact", "reason": "role_sees_summary_only"} in body[
        "extensions"
    ]["policy"]
