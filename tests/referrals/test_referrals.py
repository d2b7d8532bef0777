"""Referrals between agencies: preconditions on the server, who may move a referral, two-way
referrals, the emergency exception, KPIs. Intake is real, called over HTTP."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import TokenFactory, bearer
from tests.referrals.conftest import (
    Network,
    new_agency,
    publish_service,
    record_consent,
    register_client,
    sign_agreement,
)


def referral_body(network: Network, client_id: str, consent_id: str | None, **extra: Any) -> dict[str, Any]:
    body = {
        "client_id": client_id,
        "service_id": network.service_id,
        "receiving_agency_id": network.receiver,
        "purpose": "referral",
        "reasons": "Sleep problems and intrusive memories since return",
        "urgency": "routine",
        "consent_id": consent_id,
        "communication_needs": {"preferred_language": "fr", "interpreter_needed": True},
        "assessment_outline": "Distress screening positive",
        "current_services": ["reintegration counselling"],
    }
    return {**body, **extra}


async def sent_referral(
    network: Network, person: Any, intake_http: httpx.AsyncClient, token: TokenFactory
) -> dict[str, Any]:
    client_id = await register_client(intake_http, token, network.sender)
    consent = await record_consent(
        intake_http, token, network.sender, client_id, grantee_agency_id=network.receiver
    )
    response = await person(network.sender).post(
        "/v1/referrals", json=referral_body(network, client_id, consent["id"])
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_a_referral_without_consent_is_refused_with_409(
    network: Network, person: Any, intake_http: httpx.AsyncClient, token: TokenFactory
) -> None:
    client_id = await register_client(intake_http, token, network.sender)
    response = await person(network.sender).post(
        "/v1/referrals", json=referral_body(network, client_id, None)
    )
    assert response.status_code == 409
    assert response.json()["reason"] == "consent_missing"
    assert "consent" in response.json()["detail"]


async def test_a_consent_that_does_not_cover_the_agreements_categories_is_refused(
    person: Any, intake_http: httpx.AsyncClient, token: TokenFactory
) -> None:
    sender, receiver = new_agency("s"), new_agency("r")
    await sign_agreement(person, sender, receiver, categories=["identity", "needs", "health"])
    _, service_id = await publish_service(person, receiver)
    client_id = await register_client(intake_http, token, sender)
    consent = await record_consent(
        intake_http, token, sender, client_id, grantee_agency_id=receiver, categories=["all"]
    )
    network = Network(sender, receiver, {}, service_id, "")
    response = await person(sender).post(
        "/v1/referrals", json=referral_body(network, client_id, consent["id"])
    )
    assert response.status_code == 409, response.text
    assert response.json()["reason"] == "consent_does_not_cover"
    assert [e["field"] for e in response.json()["errors"]] == ["categories.health"]


async def test_a_withdrawn_consent_or_another_clients_consent_is_refused(
    network: Network, person: Any, intake_http: httpx.AsyncClient, token: TokenFactory
) -> None:
    client_id = await register_client(intake_http, token, network.sender)
    other_client = await register_client(intake_http, token, network.sender)
    foreign = await record_consent(intake_http, token, network.sender, other_client)
    refused = await person(network.sender).post(
        "/v1/referrals", json=referral_body(network, client_id, foreign["id"])
    )
    assert refused.status_code == 409
    assert refused.json()["reason"] == "consent_not_in_force"
    consent = await record_consent(intake_http, token, network.sender, client_id)
    withdrawn = await intake_http.post(
        f"/v1/consents/{consent['id']}/withdraw",
        json={"reason": "changed mind"},
        headers=bearer(token(network.sender, ("case_worker",))),
    )
    assert withdrawn.status_code == 200, withdrawn.text
    again = await person(network.sender).post(
        "/v1/referrals", json=referral_body(network, client_id, consent["id"])
    )
    assert again.status_code == 409
    assert again.json()["reason"] == "consent_not_in_force"


async def test_no_agreement_between_the_agencies_means_409(
    person: Any, intake_http: httpx.AsyncClient, token: TokenFactory
) -> None:
    sender, receiver = new_agency("s"), new_agency("r")
    _, service_id = await publish_service(person, receiver)
    client_id = await register_client(intake_http, token, sender)
    consent = await record_consent(intake_http, token, sender, client_id, grantee_agency_id=receiver)
    network = Network(sender, receiver, {}, service_id, "")
    response = await person(sender).post(
        "/v1/referrals", json=referral_body(network, client_id, consent["id"])
    )
    assert response.status_code == 409
    assert response.json()["reason"] == "no_agreement"


async def test_an_agreement_that_does_not_cover_the_referral_type_means_409(
    person: Any, intake_http: httpx.AsyncClient, token: TokenFactory
) -> None:
    sender, receiver = new_agency("s"), new_agency("r")
    await sign_agreement(person, sender, receiver, referral_types=["legal"])
    _, service_id = await publish_service(person, receiver, referral_type="psychological_counselling")
    client_id = await register_client(intake_http, token, sender)
    consent = await record_consent(intake_http, token, sender, client_id, grantee_agency_id=receiver)
    network = Network(sender, receiver, {}, service_id, "")
    response = await person(sender).post(
        "/v1/referrals", json=referral_body(network, client_id, consent["id"])
    )
    assert response.status_code == 409
    assert response.json()["reason"] == "agreement_does_not_cover"
    assert "psychological_counselling" in response.json()["detail"]


async def test_a_referral_records_the_form_the_agreement_and_the_clients_demographics(
    network: Network, person: Any, intake_http: httpx.AsyncClient, token: TokenFactory
) -> None:
    referral = await sent_referral(network, person, intake_http, token)
    assert referral["status"] == "requested"
    assert referral["agreement_id"] == network.agreement["id"]
    assert referral["agreement_version"] == 1
    assert referral["referral_type"] == "psychosocial_support"
    assert referral["communication_needs"]["interpreter_needed"] is True
    assert referral["history"][0]["to"] == "requested"
    assert referral["history"][0]["from"] is None
    assert referral["due_at"] is not None
    assert referral["sla_hours"] == 48
    received = await person(network.receiver).get("/v1/referrals", params={"direction": "received"})
    assert [r["id"] for r in received.json()["items"]] == [referral["id"]]
    assert (await person(new_agency("outsider")).get(f"/v1/referrals/{referral['id']}")).status_code == 404


async def test_the_sender_cannot_accept_its_own_referral(
    network: Network, person: Any, intake_http: httpx.AsyncClient, token: TokenFactory
) -> None:
    referral = await sent_referral(network, person, intake_http, token)
    url = f"/v1/referrals/{referral['id']}/transitions"
    wrong_side = await person(network.sender).post(url, json={"to": "accepted"})
    assert wrong_side.status_code == 403
    assert (await person(network.receiver).post(url, json={"to": "cancelled"})).status_code == 403
    assert (
        await person(network.receiver, "agency_admin").post(url, json={"to": "accepted"})
    ).status_code == 403


async def test_the_receiver_rejects_only_with_a_reason(
    network: Network, person: Any, intake_http: httpx.AsyncClient, token: TokenFactory
) -> None:
    referral = await sent_referral(network, person, intake_http, token)
    url = f"/v1/referrals/{referral['id']}/transitions"
    receiver = person(network.receiver, sub="nurse-1")
    assert (await receiver.post(url, json={"to": "rejected"})).status_code == 422
    rejected = await receiver.post(url, json={"to": "rejected", "reason": "No capacity until March"})
    assert rejected.status_code == 200
    last = rejected.json()["history"][-1]
    assert (last["from"], last["to"], last["actor"], last["reason"]) == (
        "requested",
        "rejected",
        "nurse-1",
        "No capacity until March",
    )
    closed = await receiver.post(url, json={"to": "accepted"})
    assert closed.status_code == 409
    assert closed.json()["reason"] == "invalid_transition"


async def test_the_closed_loop_accept_start_complete_with_outcome(
    network: Network, person: Any, intake_http: httpx.AsyncClient, token: TokenFactory
) -> None:
    referral = await sent_referral(network, person, intake_http, token)
    url = f"/v1/referrals/{referral['id']}/transitions"
    receiver = person(network.receiver)
    assert (await receiver.post(url, json={"to": "accepted"})).status_code == 200
    assert (await receiver.post(url, json={"to": "in-progress"})).status_code == 200
    assert (await receiver.post(url, json={"to": "completed"})).status_code == 422
    done = await receiver.post(
        url, json={"to": "completed", "outcome": "Six sessions attended", "outcome_code": "successful"}
    )
    assert done.status_code == 200
    body = done.json()
    assert [h["to"] for h in body["history"]] == ["requested", "accepted", "in-progress", "completed"]
    assert body["outcome_code"] == "successful"
    assert body["closed_at"] is not None
    seen = await person(network.sender).get(f"/v1/referrals/{referral['id']}")
    assert seen.json()["status"] == "completed"


async def test_an_emergency_referral_without_consent_is_flagged_for_the_dpo(
    network: Network, person: Any, intake_http: httpx.AsyncClient, token: TokenFactory
) -> None:
    client_id = await register_client(intake_http, token, network.sender)
    body = referral_body(
        network,
        client_id,
        None,
        purpose="emergency",
        emergency_justification="High risk of suicide reported today; client cannot consent now",
    )
    assert (await person(network.sender, "case_worker").post("/v1/referrals", json=body)).status_code == 403
    no_reason = {**body, "emergency_justification": "urgent"}
    assert (
        await person(network.sender, "supervisor").post("/v1/referrals", json=no_reason)
    ).status_code == 422
    sent = await person(network.sender, "supervisor").post("/v1/referrals", json=body)
    assert sent.status_code == 201, sent.text
    assert sent.json()["emergency"] is True
    assert sent.json()["dpo_review"] == "pending"
    assert sent.json()["consent_id"] is None
    review = await person(network.sender, "data_protection_officer").post(
        f"/v1/referrals/{sent.json()['id']}/dpo-review",
        json={"note": "Justified: life at risk", "justified": True},
    )
    assert review.status_code == 200
    assert review.json()["dpo_review"] == "justified"


async def test_the_receiver_refers_back_and_transfers_onward_with_consent_for_the_new_receiver(
    network: Network, person: Any, intake_http: httpx.AsyncClient, token: TokenFactory
) -> None:
    referral = await sent_referral(network, person, intake_http, token)
    receiver = person(network.receiver)
    await receiver.post(f"/v1/referrals/{referral['id']}/transitions", json={"to": "accepted"})
    back = await receiver.post(
        f"/v1/referrals/{referral['id']}/refer-back", json={"reasons": "Needs housing support"}
    )
    assert back.status_code == 201, back.text
    assert (back.json()["sending_agency_id"], back.json()["receiving_agency_id"]) == (
        network.receiver,
        network.sender,
    )
    assert back.json()["parent_referral_id"] == referral["id"]
    assert back.json()["link"] == "refer_back"

    third = new_agency("third")
    await sign_agreement(person, network.receiver, third)
    _, third_service = await publish_service(person, third)
    onward = {
        "receiving_agency_id": third,
        "service_id": third_service,
        "reasons": "Specialist care",
        "consent_id": referral["consent_id"],
    }
    refused = await receiver.post(f"/v1/referrals/{referral['id']}/transfer", json=onward)
    assert refused.status_code == 409
    assert refused.json()["reason"] == "consent_does_not_cover"
    consent = await record_consent(
        intake_http, token, network.sender, referral["client_id"], grantee_agency_id=third
    )
    moved = await receiver.post(
        f"/v1/referrals/{referral['id']}/transfer", json={**onward, "consent_id": consent["id"]}
    )
    assert moved.status_code == 201, moved.text
    assert moved.json()["receiving_agency_id"] == third
    assert moved.json()["link"] == "transfer"
    original = await person(network.sender).get(f"/v1/referrals/{referral['id']}")
    assert original.json()["status"] == "cancelled"
    assert "transferred" in original.json()["history"][-1]["reason"]


async def test_idempotency_key_makes_a_retried_referral_one_referral(
    network: Network, person: Any, intake_http: httpx.AsyncClient, token: TokenFactory
) -> None:
    client_id = await register_client(intake_http, token, network.sender)
    consent = await record_consent(
        intake_http, token, network.sender, client_id, grantee_agency_id=network.receiver
    )
    sender = person(network.sender, sub="cw-7")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await sender.post(
        "/v1/referrals", json=referral_body(network, client_id, consent["id"]), headers=key
    )
    second = await sender.post(
        "/v1/referrals", json=referral_body(network, client_id, consent["id"]), headers=key
    )
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert second.headers.get("Idempotent-Replayed") == "true"
    listed = await sender.get("/v1/referrals", params={"client_id": client_id})
    assert len(listed.json()["items"]) == 1


async def test_kpis_count_per_agency_and_gender_without_names(
    network: Network, person: Any, intake_http: httpx.AsyncClient, token: TokenFactory
) -> None:
    start = datetime.now(UTC) - timedelta(minutes=1)
    accepted = await sent_referral(network, person, intake_http, token)
    await sent_referral(network, person, intake_http, token)
    await person(network.receiver).post(
        f"/v1/referrals/{accepted['id']}/transitions", json={"to": "accepted"}
    )
    params = {
        "from": start.isoformat(),
        "to": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
        "group_by": "agency,gender,age_band",
    }
    mine = await person(network.receiver, "supervisor").get("/v1/kpis", params=params)
    assert mine.status_code == 200, mine.text
    cells = mine.json()["cells"]
    assert cells == [
        {**cells[0], "agency": network.receiver, "gender": "woman", "received": 2, "accepted": 1, "sent": 0}
    ]
    assert cells[0]["age_band"] in {"25-34", "35-49"}
    assert cells[0]["median_hours_to_accept"] is not None
    assert "client_id" not in str(mine.json())
    assert (await person(network.receiver, "case_worker").get("/v1/kpis", params=params)).status_code == 403
    bad = await person(network.receiver, "supervisor").get("/v1/kpis", params={**params, "group_by": "name"})
    assert bad.status_code == 400
    # A moment the database cannot hold (year 0 once in UTC) is the caller's mistake, not a 500.
    ancient = {**params, "from": "0001-01-01T00:00:00+01:00"}
    too_old = await person(network.receiver, "supervisor").get("/v1/kpis", params=ancient)
    assert too_old.status_code == 400, too_old.text
