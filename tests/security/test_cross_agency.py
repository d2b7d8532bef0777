"""The cross-agency rows of the security matrix, end to end: real intake and real referrals behind the
gateway (loopback HTTP). The agreement is proposed and signed through the gateway; consents are
recorded in intake. Each row asserts what is refused AND the audit record the refusal left."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from passage.db import asyncpg_dsn
from passage.settings import Settings
from tests.conftest import TokenFactory, bearer
from tests.gateway.stack import gateway_stack
from tests.support import eventually

OWNER, OTHER, THIRD = "xa-harbour", "xa-bridge", "xa-faraway"
READ = (
    "query($id: ID!) { client(id: $id) { id givenName familyName birthYear phone nationality "
    "vulnerabilities } }"
)
AGREED = ["identity", "contact", "demographics", "protection"]  # not legal_status, not health


@dataclass
class Net:
    gateway: httpx.AsyncClient
    intake: httpx.AsyncClient
    token: TokenFactory
    db_url: str
    agreement: dict[str, Any]


async def gql(
    net: Net, query: str, variables: dict[str, Any], tok: str, purpose: str, **headers: str
) -> tuple[dict[str, Any], str]:
    request_id = f"xa-{uuid.uuid4().hex[:12]}"
    response = await net.gateway.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers=bearer(tok) | {"X-Purpose-Of-Use": purpose, "X-Request-ID": request_id} | headers,
    )
    assert response.status_code == 200, response.text
    return response.json(), request_id


async def audit_rows(db_url: str, request_id: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        rows = await conn.fetch(
            "SELECT action, outcome, released, withheld, basis, detail FROM gateway.audit_log "
            "WHERE request_id = $1 ORDER BY seq",
            request_id,
        )
    finally:
        await conn.close()
    out = []
    for r in rows:
        row = dict(r)
        for k in ("released", "withheld", "basis", "detail"):
            if isinstance(row[k], str):
                row[k] = json.loads(row[k])
        out.append(row)
    return out


@pytest.fixture(scope="module")
async def net(settings: Settings, token: TokenFactory) -> AsyncIterator[Net]:
    async with gateway_stack(settings, services=("intake", "referrals")) as (_, gateway, urls):  # noqa: SIM117
        async with httpx.AsyncClient(base_url=urls["intake"]) as intake:
            proposed, _ = await gql(
                Net(gateway, intake, token, settings.database_url, {}),
                "mutation($in: ProposeAgreementInput!) { proposeAgreement(input: $in) { id status inForce "
                "directions { fromAgency toAgency categories purposes slaHours } } }",
                {
                    "in": {
                        "parties": [OWNER, OTHER],
                        "validFrom": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
                        "directions": [
                            {
                                "fromAgency": OWNER,
                                "toAgency": OTHER,
                                "categories": AGREED,
                                "purposes": ["referral", "follow_up"],
                                "referralTypes": ["any"],
                                "slaHours": 36.5,
                            }
                        ],
                    }
                },
                token(OWNER, roles=("agency_admin",)),
                "case_management",
            )
            assert "errors" not in proposed, proposed
            agreement = proposed["data"]["proposeAgreement"]
            # One signature is not an agreement: the proposer's own.
            assert agreement["status"] == "proposed"
            assert agreement["directions"][0]["slaHours"] == 36.5
            signed, _ = await gql(
                Net(gateway, intake, token, settings.database_url, {}),
                "mutation($id: ID!) { signAgreement(id: $id) { id status version } }",
                {"id": agreement["id"]},
                token(OTHER, roles=("agency_admin",)),
                "case_management",
            )
            assert "errors" not in signed, signed
            assert signed["data"]["signAgreement"]["status"] == "active"
            yield Net(gateway, intake, token, settings.database_url, signed["data"]["signAgreement"])


async def new_client(net: Net, **extra: Any) -> str:
    body = {
        "given_name": "Awa",
        # Names unlike each other: no duplicate warnings between the rows' clients.
        "family_name": f"Q{uuid.uuid4().hex[:14]}",
        "sex": "female",
        "birth_year": 1994,
        "phone": "+221770000001",
        "nationality": "SN",
        "vulnerabilities": ["serious_medical_condition"],
        **extra,
    }
    r = await net.intake.post("/v1/clients", json=body, headers=bearer(net.token(OWNER)))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def consent(net: Net, client_id: str, **over: Any) -> str:
    body = {
        "grantee_agency_id": OTHER,
        "purposes": ["referral"],
        "categories": ["identity", "demographics"],
        "obtained_by": "written",
        **over,
    }
    r = await net.intake.post(
        f"/v1/clients/{client_id}/consents", json=body, headers=bearer(net.token(OWNER))
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def read_as(net: Net, client_id: str, agency: str = OTHER, purpose: str = "referral") -> Any:
    return await gql(net, READ, {"id": client_id}, net.token(agency), purpose)


def codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]


def policy(body: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {p["path"][-1]: (p["category"], p["reason"]) for p in body.get("extensions", {}).get("policy", [])}


async def test_consent_and_signed_agreement_release_exactly_the_granted_categories(net: Net) -> None:
    cid = await new_client(net)
    kid = await consent(net, cid)
    body, rid = await read_as(net, cid)
    client = body["data"]["client"]
    # identity and demographics: consented and agreed.
    assert client["givenName"] == "Awa"
    assert client["birthYear"] == 1994
    # contact: agreed, not consented; legal_status: consented by no one, agreed by no one.
    assert client["phone"] is None
    assert client["nationality"] is None
    assert client["vulnerabilities"] is None
    withheld = policy(body)
    assert withheld["phone"] == ("contact", "no_consent_grants_category")
    assert withheld["nationality"] == ("legal_status", "agreement_does_not_cover_category_for_purpose")
    assert withheld["vulnerabilities"][0] == "protection"
    [row] = [r for r in await audit_rows(net.db_url, rid) if r["action"] == "read_client"]
    assert row["outcome"] == "partial"
    assert sorted(row["released"]) == ["demographics", "identity"]
    assert row["withheld"]["contact"] == "no_consent_grants_category"
    assert row["basis"]["consents"] == {"demographics": kid, "identity": kid}
    assert row["basis"]["agreement_id"] == net.agreement["id"]
    assert row["basis"]["agreement_version"] == net.agreement["version"]


@dataclass(frozen=True)
class Row:
    name: str
    consent: dict[str, Any] | None  # None: no consent at all
    reader: str = OTHER
    purpose: str = "referral"
    reason: str = "no_consent_grants_category"  # the audited reason for `identity`


PAST = datetime.now(UTC) - timedelta(days=30)
ROWS = [
    Row("without-consent", None),
    Row("without-agreement", {"grantee_agency_id": THIRD}, reader=THIRD, reason="no_agreement_in_force"),
    Row(
        "expired-consent",
        {"period_start": PAST.isoformat(), "period_end": (PAST + timedelta(days=7)).isoformat()},
    ),
    Row("mismatched-purpose", {"purposes": ["referral"]}, purpose="follow_up"),
    Row("consent-to-another-agency", {"grantee_agency_id": THIRD}),
    Row("denying-consent", {"decision": "deny"}, reason="consent_denies_category"),
]


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.name)
async def test_cross_agency_read_is_refused_and_audited(net: Net, row: Row) -> None:
    cid = await new_client(net)
    if row.consent is not None:
        await consent(net, cid, **row.consent)
    body, rid = await read_as(net, cid, row.reader, row.purpose)
    assert codes(body) == ["NOT_FOUND"], body
    assert body["data"] is None or body["data"]["client"] is None
    assert "Awa" not in json.dumps(body)
    assert "+221" not in json.dumps(body)
    refused = [r for r in await audit_rows(net.db_url, rid) if r["outcome"] == "refused"]
    assert refused, "the refusal left no audit record"
    assert refused[0]["withheld"]["identity"] == row.reason
    assert refused[0]["released"] == []


async def test_a_general_grant_does_not_release_a_sensitive_category(net: Net) -> None:
    cid = await new_client(net)
    await consent(net, cid, categories=["all"])
    body, rid = await read_as(net, cid)
    client = body["data"]["client"]
    assert client["givenName"] == "Awa"
    assert client["phone"] == "+221770000001"
    assert client["vulnerabilities"] is None
    assert policy(body)["vulnerabilities"] == ("protection", "sensitive_category_needs_explicit_grant")
    [row] = [r for r in await audit_rows(net.db_url, rid) if r["action"] == "read_client"]
    assert "protection" not in row["released"]
    assert row["withheld"]["protection"] == "sensitive_category_needs_explicit_grant"


async def test_a_grant_naming_the_sensitive_category_releases_it(net: Net) -> None:
    cid = await new_client(net)
    await consent(net, cid, categories=["identity", "protection"])
    body, rid = await read_as(net, cid)
    assert body["data"]["client"]["vulnerabilities"] == ["serious_medical_condition"], body
    [row] = [r for r in await audit_rows(net.db_url, rid) if r["action"] == "read_client"]
    assert "protection" in row["released"]


async def test_withdrawal_in_intake_binds_the_very_next_gateway_read(net: Net) -> None:
    cid = await new_client(net)
    kid = await consent(net, cid)

    async def answered_from_the_cache() -> dict[str, Any] | None:
        # Once the grant's own event has passed, the client's consents are cached: a read asks
        # intake for the client record alone (its consent_revision says the cache is current).
        body, _ = await read_as(net, cid)
        assert body["data"]["client"]["givenName"] == "Awa", body
        return body if body["extensions"]["upstream_calls"] == {"intake": 1} else None

    await eventually(answered_from_the_cache)
    # Withdrawn straight in intake, not through the gateway: no event has to arrive first, and
    # the consents cached a moment ago must not be used.
    r = await net.intake.post(
        f"/v1/consents/{kid}/withdraw",
        json={"reason": "the client changed her mind"},
        headers=bearer(net.token(OWNER)),
    )
    assert r.status_code == 200, r.text
    body, rid = await read_as(net, cid)
    assert codes(body) == ["NOT_FOUND"], body
    refused = [r for r in await audit_rows(net.db_url, rid) if r["outcome"] == "refused"]
    assert refused
    assert refused[0]["withheld"]["identity"] == "no_consent_grants_category"


async def test_a_deny_beyond_one_batch_of_consents_still_binds(net: Net) -> None:
    """A client with more consents than intake's batch read carries: the gateway reads them all,
    page by page, so a deny recorded last still wins over the permits before it."""
    cid = await new_client(net)
    await consent(net, cid)
    conn = await asyncpg.connect(asyncpg_dsn(net.db_url))
    try:
        start = datetime.now(UTC) - timedelta(days=1)
        await conn.executemany(
            "INSERT INTO intake.consents (id, client_id, agency_id, grantee_agency_id, grantor, purposes, "
            "categories, decision, period_start, status, obtained_by, recorded_by, expiry_announced, "
            "created_at) VALUES ($1, $2, $3, $4, 'client', $5::jsonb, $6::jsonb, $7, $8, 'active', "
            "'verbal', 'test', false, $8)",
            [
                (uuid.uuid4(), uuid.UUID(cid), OWNER, OTHER, '["follow_up"]', '["contact"]', "permit", start)
                for _ in range(200)
            ]
            + [(uuid.uuid4(), uuid.UUID(cid), OWNER, OTHER, '["referral"]', '["identity"]', "deny", start)],
        )
    finally:
        await conn.close()
    body, rid = await read_as(net, cid)
    assert body["data"]["client"]["givenName"] is None, body
    assert policy(body)["givenName"] == ("identity", "consent_denies_category")
    assert body["data"]["client"]["birthYear"] == 1994  # demographics: still granted, not denied
    [row] = [r for r in await audit_rows(net.db_url, rid) if r["action"] == "read_client"]
    assert row["withheld"]["identity"] == "consent_denies_category"


async def test_withdrawal_through_the_gateway_binds_the_very_next_read(net: Net) -> None:
    cid = await new_client(net)
    kid = await consent(net, cid)
    body, _ = await read_as(net, cid)
    assert body["data"]["client"]["givenName"] == "Awa", body
    withdrawn, _ = await gql(
        net,
        'mutation($id: ID!) { withdrawConsent(consentId: $id, reason: "asked by the client") { id status } }',
        {"id": kid},
        net.token(OWNER),
        "case_management",
    )
    assert withdrawn["data"]["withdrawConsent"] == {"id": kid, "status": "withdrawn"}, withdrawn
    body, rid = await read_as(net, cid)
    assert codes(body) == ["NOT_FOUND"]
    assert [r for r in await audit_rows(net.db_url, rid) if r["outcome"] == "refused"]


async def test_an_agreement_signed_by_one_party_only_opens_nothing(net: Net) -> None:
    proposed, _ = await gql(
        net,
        "mutation($in: ProposeAgreementInput!) { proposeAgreement(input: $in) { id status } }",
        {
            "in": {
                "parties": [OWNER, THIRD],
                "validFrom": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
                "directions": [
                    {
                        "fromAgency": OWNER,
                        "toAgency": THIRD,
                        "categories": AGREED,
                        "purposes": ["referral"],
                        "referralTypes": ["any"],
                    }
                ],
            }
        },
        net.token(OWNER, roles=("agency_admin",)),
        "case_management",
    )
    assert proposed["data"]["proposeAgreement"]["status"] == "proposed", proposed
    cid = await new_client(net)
    await consent(net, cid, grantee_agency_id=THIRD)
    body, rid = await read_as(net, cid, THIRD)
    assert codes(body) == ["NOT_FOUND"]
    refused = [r for r in await audit_rows(net.db_url, rid) if r["outcome"] == "refused"]
    assert refused
    assert refused[0]["withheld"]["identity"] == "no_agreement_in_force"


async def test_signing_an_agreement_for_the_other_party_is_refused(net: Net) -> None:
    proposed, _ = await gql(
        net,
        "mutation($in: ProposeAgreementInput!) { proposeAgreement(input: $in) { id } }",
        {
            "in": {
                "parties": [OWNER, "xa-fourth"],
                "validFrom": datetime.now(UTC).isoformat(),
                "directions": [
                    {
                        "fromAgency": OWNER,
                        "toAgency": "xa-fourth",
                        "categories": ["identity"],
                        "purposes": ["referral"],
                        "referralTypes": ["any"],
                    }
                ],
            }
        },
        net.token(OWNER, roles=("agency_admin",)),
        "case_management",
    )
    aid = proposed["data"]["proposeAgreement"]["id"]
    # A case worker of the other party, and an admin of an agency that is no party.
    for tok in (net.token("xa-fourth", roles=("case_worker",)), net.token(THIRD, roles=("agency_admin",))):
        body, _ = await gql(
            net,
            "mutation($id: ID!) { signAgreement(id: $id) { status } }",
            {"id": aid},
            tok,
            "case_management",
        )
        assert codes(body), body
        assert codes(body)[0] in ("FORBIDDEN", "NOT_FOUND"), body
