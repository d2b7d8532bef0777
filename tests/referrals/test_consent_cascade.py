"""Revocation cascade: a consent withdrawn in intake puts the open referrals that relied on it on hold
(or cancels them, when their agreement says so), once, however often the news arrives."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import httpx
from nats.aio.client import Client as NATS
from nats.js.api import ConsumerConfig, DeliverPolicy

from tests.conftest import TokenFactory, bearer
from tests.referrals.conftest import Network, publish_service, record_consent, register_client, sign_agreement
from tests.referrals.test_referrals import referral_body
from tests.support import eventually


async def _refer(network: Network, person: Any, client_id: str, consent_id: str) -> dict[str, Any]:
    response = await person(network.sender).post(
        "/v1/referrals", json=referral_body(network, client_id, consent_id)
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _withdrawn_event(nc: NATS, consent_id: str) -> Any:
    js = nc.jetstream()
    sub = await js.pull_subscribe(
        "intake.consent.withdrawn",
        stream="INTAKE",
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, inactive_threshold=5),
    )
    try:
        pending = (await sub.consumer_info()).num_pending
        while pending > 0:
            batch = await sub.fetch(batch=min(pending, 500), timeout=5)
            pending -= len(batch)
            for message in batch:
                if json.loads(message.data)["consent_id"] == consent_id:
                    return message
    finally:
        await sub.unsubscribe()
    raise AssertionError("the withdrawal event is not in the INTAKE stream")


async def test_withdrawal_puts_open_referrals_on_hold_exactly_once_under_redelivery(
    network: Network,
    person: Any,
    intake_http: httpx.AsyncClient,
    token: TokenFactory,
    nc: NATS,
    db: asyncpg.Connection,
) -> None:
    client_id = await register_client(intake_http, token, network.sender)
    consent = await record_consent(
        intake_http, token, network.sender, client_id, grantee_agency_id=network.receiver
    )
    other = await record_consent(
        intake_http, token, network.sender, client_id, grantee_agency_id=network.receiver
    )
    waiting = await _refer(network, person, client_id, consent["id"])
    accepted = await _refer(network, person, client_id, consent["id"])
    untouched = await _refer(network, person, client_id, other["id"])
    await person(network.receiver).post(
        f"/v1/referrals/{accepted['id']}/transitions", json={"to": "accepted"}
    )

    withdrawn = await intake_http.post(
        f"/v1/consents/{consent['id']}/withdraw",
        json={"reason": "client asked"},
        headers=bearer(token(network.sender, ("case_worker",))),
    )
    assert withdrawn.status_code == 200, withdrawn.text

    async def held() -> bool:
        rows = await person(network.sender).get(
            "/v1/referrals", params={"ids": f"{waiting['id']},{accepted['id']}"}
        )
        return all(r["status"] == "on-hold" for r in rows.json()["items"])

    await eventually(held, timeout=20)

    # Redelivery: the same event again (same CloudEvent id), and the same news in a new event.
    original = await _withdrawn_event(nc, consent["id"])
    js = nc.jetstream()
    same = dict(original.headers)
    same["Nats-Msg-Id"] = str(uuid.uuid4())  # past JetStream's own de-duplication, to reach our inbox
    await js.publish(original.subject, original.data, headers=same)
    fresh = {**same, "ce-id": str(uuid.uuid4()), "Nats-Msg-Id": str(uuid.uuid4())}
    await js.publish(original.subject, original.data, headers=fresh)

    async def both_handled() -> bool:
        count = await db.fetchval(
            "SELECT count(*) FROM referrals.inbox WHERE event_id = ANY($1::uuid[])",
            [uuid.UUID(same["ce-id"]), uuid.UUID(fresh["ce-id"])],
        )
        return count == 2

    await eventually(both_handled, timeout=20)
    for referral in (waiting, accepted):
        body = (await person(network.receiver).get(f"/v1/referrals/{referral['id']}")).json()
        holds = [h for h in body["history"] if h["to"] == "on-hold"]
        assert len(holds) == 1, body["history"]
        assert holds[0]["actor"] == "system"
        assert consent["id"] in holds[0]["reason"]
    on_hold_events = await db.fetchval(
        "SELECT count(*) FROM referrals.outbox WHERE event_type = 'referrals.referral.on_hold' "
        "AND convert_from(payload, 'UTF8')::jsonb->>'consent_id' = $1",
        consent["id"],
    )
    assert on_hold_events == 2  # one per referral, each naming both agencies
    assert (await person(network.sender).get(f"/v1/referrals/{untouched['id']}")).json()[
        "status"
    ] == "requested"

    # The sender resumes the accepted one with a new consent; the receiver cannot.
    url = f"/v1/referrals/{accepted['id']}/transitions"
    assert (await person(network.receiver).post(url, json={"to": "accepted"})).status_code == 403
    assert (await person(network.sender).post(url, json={"to": "accepted"})).status_code == 409
    resumed = await person(network.sender).post(url, json={"to": "accepted", "consent_id": other["id"]})
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["consent_id"] == other["id"]


async def test_an_agreement_may_say_withdrawal_cancels_the_referral(
    person: Any, intake_http: httpx.AsyncClient, token: TokenFactory
) -> None:
    from tests.referrals.conftest import new_agency

    sender, receiver = new_agency("s"), new_agency("r")
    await sign_agreement(person, sender, receiver, on_consent_withdrawn="cancel")
    _, service_id = await publish_service(person, receiver)
    network = Network(sender, receiver, {}, service_id, "")
    client_id = await register_client(intake_http, token, sender)
    consent = await record_consent(intake_http, token, sender, client_id, grantee_agency_id=receiver)
    referral = await _refer(network, person, client_id, consent["id"])
    await intake_http.post(
        f"/v1/consents/{consent['id']}/withdraw",
        json={"reason": "client asked"},
        headers=bearer(token(sender, ("case_worker",))),
    )

    async def cancelled() -> bool:
        body = (await person(receiver).get(f"/v1/referrals/{referral['id']}")).json()
        return body["status"] == "cancelled"

    await eventually(cancelled, timeout=20)
