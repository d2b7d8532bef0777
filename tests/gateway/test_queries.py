"""Queries over real services: who accessed a client (accessLog), the DPO's audit trail, the
directory and coordinators' statistics; every list a Relay connection that pages without gaps."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from passage.settings import Settings
from tests.conftest import TokenFactory, bearer
from tests.gateway.stack import gateway_stack

AGENCY, ELSEWHERE = "qu-harbour", "qu-faraway"
LOG = (
    "query($id: ID!, $after: String) { accessLog(clientId: $id, first: 1, after: $after) { "
    "edges { cursor node { seq actor purpose action outcome released } } "
    "pageInfo { hasNextPage endCursor } } }"
)
TRAIL = (
    "query($after: String, $actor: String) { auditTrail(first: 2, after: $after, actor: $actor) { "
    "edges { node { seq actor agencyId action } } pageInfo { hasNextPage endCursor } } }"
)


@dataclass
class Net:
    gateway: httpx.AsyncClient
    intake: httpx.AsyncClient
    referrals: httpx.AsyncClient
    token: TokenFactory


@pytest.fixture(scope="module")
async def net(settings: Settings, token: TokenFactory) -> AsyncIterator[Net]:
    async with gateway_stack(settings, services=("intake", "referrals")) as (_, gateway, urls):  # noqa: SIM117
        async with (
            httpx.AsyncClient(base_url=urls["intake"]) as intake,
            httpx.AsyncClient(base_url=urls["referrals"]) as referrals,
        ):
            yield Net(gateway, intake, referrals, token)


async def gql(
    net: Net,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    agency: str = AGENCY,
    role: str = "case_worker",
    purpose: str = "case_management",
) -> dict[str, Any]:
    response = await net.gateway.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers=bearer(net.token(agency, roles=(role,), sub=f"{agency}-{role}"))
        | {"X-Purpose-Of-Use": purpose},
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]


async def register(net: Net, agency: str = AGENCY, **fields: Any) -> str:
    body = {
        "given_name": "Fatou",
        "family_name": f"Q{uuid.uuid4().hex[:14]}",
        "sex": "female",
        "birth_year": 1990,
        **fields,
    }
    r = await net.intake.post("/v1/clients", json=body, headers=bearer(net.token(agency)))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_access_log_shows_the_owning_agency_who_read_the_client_and_why(net: Net) -> None:
    cid = await register(net)
    read = "query($id: ID!) { client(id: $id) { id givenName } }"
    assert "errors" not in await gql(net, read, {"id": cid})
    assert "errors" not in await gql(net, read, {"id": cid}, role="supervisor", purpose="follow_up")

    pages: list[dict[str, Any]] = []
    after = None
    for _ in range(10):
        body = await gql(net, LOG, {"id": cid, "after": after})
        assert "errors" not in body, body
        pages.append(body["data"]["accessLog"])
        if not pages[-1]["pageInfo"]["hasNextPage"]:
            break
        after = pages[-1]["pageInfo"]["endCursor"]
    nodes = [edge["node"] for page in pages for edge in page["edges"]]
    assert all(len(page["edges"]) == 1 for page in pages)
    # Newest first, no record twice, none skipped.
    seqs = [n["seq"] for n in nodes]
    assert seqs == sorted(set(seqs), reverse=True)
    reads = [(n["actor"], n["purpose"]) for n in nodes if n["action"] == "read_client"]
    assert (f"{AGENCY}-supervisor", "follow_up") in reads
    assert (f"{AGENCY}-case_worker", "case_management") in reads
    # The access-log reads themselves are on the log too: reading who looked is a look.
    assert len(reads) >= 2
    assert all("identity" in n["released"] for n in nodes if n["action"] == "read_client")


async def test_another_agency_cannot_see_who_accessed_a_client(net: Net) -> None:
    cid = await register(net)
    body = await gql(net, LOG, {"id": cid, "after": None}, agency=ELSEWHERE)
    assert codes(body) == ["NOT_FOUND"]


async def test_the_audit_trail_pages_newest_first_for_the_dpo_over_its_own_agency_only(net: Net) -> None:
    await register(net, agency=ELSEWHERE)
    cid = await register(net)
    for _ in range(3):
        await gql(net, "query($id: ID!) { client(id: $id) { id } }", {"id": cid})
    await gql(net, "query { me { sub } }", agency=ELSEWHERE)

    seen: list[dict[str, Any]] = []
    after = None
    for _ in range(3):
        body = await gql(net, TRAIL, {"after": after}, role="data_protection_officer")
        assert "errors" not in body, body
        trail = body["data"]["auditTrail"]
        seen += [e["node"] for e in trail["edges"]]
        after = trail["pageInfo"]["endCursor"]
        assert trail["pageInfo"]["hasNextPage"]
    assert len(seen) == 6
    assert [n["seq"] for n in seen] == sorted({n["seq"] for n in seen}, reverse=True)
    assert {n["agencyId"] for n in seen} == {AGENCY}

    mine = await gql(net, TRAIL, {"actor": f"{AGENCY}-case_worker"}, role="data_protection_officer")
    assert {e["node"]["actor"] for e in mine["data"]["auditTrail"]["edges"]} == {f"{AGENCY}-case_worker"}

    garbage = await gql(net, TRAIL, {"after": "not-a-cursor"}, role="data_protection_officer")
    assert codes(garbage) == ["BAD_USER_INPUT"]


async def test_the_directory_is_a_connection_that_pages_to_its_end(net: Net) -> None:
    tag = uuid.uuid4().hex[:10]
    org = str(uuid.uuid4())
    dataset = {
        "organizations": [{"id": org, "name": f"Harbour {tag}", "agency_id": AGENCY}],
        "services": [
            {
                "id": str(uuid.uuid4()),
                "organization_id": org,
                "name": f"Counselling {tag} {n}",
                "languages": [{"code": "fr"}],
            }
            for n in range(3)
        ],
    }
    imported = await net.referrals.post(
        "/v1/hsds/import", json=dataset, headers=bearer(net.token("network", roles=("coordinator",)))
    )
    assert imported.status_code == 200, imported.text
    query = (
        "query($after: String, $q: String) { services(first: 2, after: $after, search: $q) { "
        "edges { cursor node { id name organizationName languages hsds } } "
        "pageInfo { hasNextPage endCursor } } }"
    )
    first = (await gql(net, query, {"q": tag}))["data"]["services"]
    assert len(first["edges"]) == 2
    assert first["pageInfo"]["hasNextPage"] is True
    rest = (await gql(net, query, {"q": tag, "after": first["pageInfo"]["endCursor"]}))["data"]["services"]
    assert len(rest["edges"]) == 1
    assert rest["pageInfo"]["hasNextPage"] is False
    names = {e["node"]["name"] for e in first["edges"] + rest["edges"]}
    assert names == {f"Counselling {tag} {n}" for n in range(3)}
    node = rest["edges"][0]["node"]
    assert node["organizationName"] == f"Harbour {tag}"
    assert node["languages"] == ["fr"]
    assert node["hsds"]["id"] == node["id"]


async def test_coordinators_get_suppressed_counts_and_no_identifiers(net: Net) -> None:
    big, small = f"Big {uuid.uuid4().hex[:8]}", f"Small {uuid.uuid4().hex[:8]}"
    for _ in range(6):
        await register(net, area={"admin1": big})
    await register(net, area={"admin1": small})
    query = (
        'query { statistics(groupBy: ["area"]) { source groupBy total '
        "cells { dimensions count suppressed } } }"
    )
    body = await gql(net, query, agency="network", role="coordinator", purpose="statistics")
    assert "errors" not in body, body
    table = body["data"]["statistics"]
    cells = {c["dimensions"]["area"]: c for c in table["cells"]}
    assert cells[big]["count"] is not None
    assert cells[big]["count"] >= 6
    assert cells[small] == {"dimensions": {"area": small}, "count": None, "suppressed": True}
    # Every shown cell is at least 5, and no client-level value appears anywhere.
    assert all(c["count"] is None or c["count"] >= 5 for c in table["cells"])
    assert "Fatou" not in str(body)
    # The same coordinator under another purpose is refused at the door.
    refused = await net.gateway.post(
        "/graphql",
        json={"query": query},
        headers=bearer(net.token("network", roles=("coordinator",)))
        | {"X-Purpose-Of-Use": "case_management"},
    )
    assert refused.status_code == 403
    assert codes(refused.json()) == ["FORBIDDEN"]
