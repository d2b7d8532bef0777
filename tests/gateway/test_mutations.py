"""Typed mutations, mapped to the real service paths (intake, referrals, notifications behind the
gateway on loopback HTTP), with the service's refusals carried as GraphQL extension codes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from passage.settings import Settings
from tests.conftest import TokenFactory, bearer
from tests.gateway.stack import gateway_stack, service_and_agreement

SENDER, RECEIVER = "mu-harbour", "mu-bridge"
CLIENT_FIELDS = "client { id version givenName familyName phone area }"


@dataclass
class Stack:
    gateway: httpx.AsyncClient
    token: TokenFactory
    service_id: str


async def gql(
    s: Stack,
    query: str,
    variables: dict[str, Any],
    *,
    agency: str = SENDER,
    role: str = "case_worker",
    purpose: str = "case_management",
    **headers: str,
) -> dict[str, Any]:
    response = await s.gateway.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers=bearer(s.token(agency, roles=(role,), sub=f"{agency}-{role}"))
        | {"X-Purpose-Of-Use": purpose}
        | headers,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]


@pytest.fixture(scope="module")
async def stack(settings: Settings, token: TokenFactory) -> AsyncIterator[Stack]:
    async with gateway_stack(settings, services=("intake", "referrals", "notifications")) as (_, gw, urls):
        service = await service_and_agreement(urls["referrals"], token, SENDER, RECEIVER)
        yield Stack(gw, token, service)


REGISTER = f"mutation($in: RegisterClientInput!) {{ registerClient(input: $in) {{ {CLIENT_FIELDS} }} }}"


async def register(s: Stack, **headers: str) -> dict[str, Any]:
    body = await gql(
        s,
        REGISTER,
        {
            "in": {
                "givenName": "Mariama",
                "familyName": f"K{uuid.uuid4().hex[:12]}",
                "sex": "female",
                "area": {"admin1": "Dakar"},
                "phone": "+221770000009",
            }
        },
        **headers,
    )
    assert "errors" not in body, body
    return dict(body["data"]["registerClient"]["client"])


async def test_register_then_update_with_the_version_read_and_a_stale_version_is_a_conflict(
    stack: Stack,
) -> None:
    s = stack
    client = await register(s)
    assert client["givenName"] == "Mariama"
    assert client["area"]["admin1"] == "Dakar"
    update = (
        "mutation($id: ID!, $v: Int!, $in: UpdateClientInput!) { "
        "updateClient(id: $id, version: $v, input: $in) { id version phone givenName } }"
    )
    body = await gql(s, update, {"id": client["id"], "v": client["version"], "in": {"phone": None}})
    assert "errors" not in body, body
    updated = body["data"]["updateClient"]
    assert updated["phone"] is None
    assert updated["givenName"] == "Mariama"
    assert updated["version"] == client["version"] + 1
    stale = await gql(s, update, {"id": client["id"], "v": client["version"], "in": {"givenName": "M."}})
    assert codes(stale) == ["CONFLICT"], stale


async def test_a_field_intake_refuses_is_bad_user_input_naming_the_field(stack: Stack) -> None:
    s = stack
    body = await gql(
        s, REGISTER, {"in": {"givenName": "Ana", "familyName": "B", "sex": "female", "phone": "not a phone"}}
    )
    assert codes(body) == ["BAD_USER_INPUT"], body
    fields = [e["field"] for e in body["errors"][0]["extensions"]["errors"]]
    assert any("phone" in f for f in fields), body


async def test_the_callers_idempotency_key_is_forwarded(stack: Stack) -> None:
    s = stack
    key = f"mu-{uuid.uuid4().hex}"
    variables = {"in": {"givenName": "Idem", "familyName": f"P{uuid.uuid4().hex[:12]}", "sex": "male"}}
    first = await gql(s, REGISTER, variables, **{"Idempotency-Key": key})
    again = await gql(s, REGISTER, variables, **{"Idempotency-Key": key})
    assert first["data"]["registerClient"]["client"]["id"] == again["data"]["registerClient"]["client"]["id"]
    other = await gql(s, REGISTER, variables)
    assert other["data"]["registerClient"]["client"]["id"] != first["data"]["registerClient"]["client"]["id"]


async def test_consent_assessment_referral_and_its_transitions(stack: Stack) -> None:
    s = stack
    client = await register(s)
    granted = await gql(
        s,
        "mutation($c: ID!, $in: ConsentInput!) { grantConsent(clientId: $c, input: $in) "
        "{ id status granteeAgencyId categories purposes } }",
        {
            "c": client["id"],
            "in": {
                "granteeAgencyId": RECEIVER,
                "purposes": ["referral"],
                "categories": ["identity", "needs"],
                "obtainedBy": "written",
            },
        },
    )
    consent = granted["data"]["grantConsent"]
    assert consent["status"] == "active", granted
    assert consent["granteeAgencyId"] == RECEIVER
    assessed = await gql(
        s,
        "mutation($c: ID!, $in: AssessmentInput!) { "
        "submitAssessment(clientId: $c, input: $in) { id kind answers } }",
        {"c": client["id"], "in": {"kind": "needs", "answers": {"employment": "high"}}},
    )
    assert assessed["data"]["submitAssessment"]["kind"] == "needs", assessed
    created = await gql(
        s,
        "mutation($in: CreateReferralInput!) { createReferral(input: $in) { id status receivingAgencyId "
        "dueAt agreementId } }",
        {
            "in": {
                "clientId": client["id"],
                "serviceId": s.service_id,
                "receivingAgencyId": RECEIVER,
                "reasons": "counselling after return",
                "consentId": consent["id"],
            }
        },
    )
    referral = created["data"]["createReferral"]
    assert referral["status"] == "requested", created
    assert referral["agreementId"]
    assert referral["dueAt"]  # a DateTime from the service's ISO string (the SLA is armed)
    move = (
        "mutation($id: ID!, $a: ReferralAction!, $r: String, $o: String) { transitionReferral(id: $id, "
        "action: $a, reason: $r, outcome: $o) { status history { fromStatus toStatus reason outcome } } }"
    )
    for action, status in (("accept", "accepted"), ("start", "in-progress")):
        body = await gql(s, move, {"id": referral["id"], "a": action}, agency=RECEIVER, purpose="referral")
        assert body["data"]["transitionReferral"]["status"] == status, body
    # The sender cannot complete what the receiver does.
    wrong = await gql(s, move, {"id": referral["id"], "a": "complete", "o": "done"}, purpose="referral")
    assert codes(wrong) == ["FORBIDDEN"], wrong
    done = await gql(
        s,
        move,
        {"id": referral["id"], "a": "complete", "o": "three sessions held"},
        agency=RECEIVER,
        purpose="referral",
    )
    steps = done["data"]["transitionReferral"]["history"]
    assert steps[-1]["toStatus"] == "completed", done
    assert steps[-1]["outcome"] == "three sessions held"
    late = await gql(s, move, {"id": referral["id"], "a": "cancel", "r": "too late"}, purpose="referral")
    assert codes(late) == ["CONFLICT"], late


async def test_mark_notifications_read_answers_how_many(stack: Stack) -> None:
    s = stack
    body = await gql(s, "mutation { markNotificationsRead { marked } }", {})
    assert "errors" not in body, body
    assert isinstance(body["data"]["markNotificationsRead"]["marked"], int)
    listed = await gql(s, "query { notifications(first: 5) { edges { node { id kind readAt } } } }", {})
    assert "errors" not in listed, listed
