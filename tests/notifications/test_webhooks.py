"""Webhooks: Standard Webhooks signatures, retries on schedule, dead letters, redelivery, rotation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from nats.aio.client import Client as NATS

from passage.bus.envelope import CloudEvent
from passage.bus.nats import subject
from passage.contracts.referrals import ReferralAccepted
from passage.settings import Settings
from tests.conftest import bearer
from tests.notifications.receivers import Receiver, receiving
from tests.support import eventually, running

ENV = {
    "PASSAGE_NOTIFICATIONS_RETRY_BASE_SECONDS": "0.4",
    "PASSAGE_NOTIFICATIONS_RETRY_CAP_SECONDS": "1.6",
    "PASSAGE_NOTIFICATIONS_MAX_ATTEMPTS": "4",
    "PASSAGE_NOTIFICATIONS_POLL_SECONDS": "0.05",
    "PASSAGE_NOTIFICATIONS_ENDPOINT_FAILURE_THRESHOLD": "6",
    "PASSAGE_GATEWAY_PUBLIC_URL": "https://gateway.passage.test/",
}


@pytest.fixture(scope="module")
async def service(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    with pytest.MonkeyPatch.context() as mp:
        for key, value in ENV.items():
            mp.setenv(key, value)
        async with running("notifications", settings) as (_app, client):
            yield client


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as r:
        yield r


def verify_standard_webhook(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The Standard Webhooks check, written from the spec, independent of the service's code."""
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = headers["webhook-id"].encode() + b"." + headers["webhook-timestamp"].encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = [s.split(",", 1)[1] for s in headers["webhook-signature"].split(" ") if s.startswith("v1,")]
    return any(hmac.compare_digest(expected, o) for o in offered)


async def register(
    service: httpx.AsyncClient, token: Any, url: str, agency: str, types: list[str]
) -> dict[str, Any]:
    response = await service.post(
        "/v1/webhooks",
        json={"url": url, "event_types": types, "description": "partner case system"},
        headers=bearer(token(agency=agency, roles=("agency_admin",))),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def publish_referral_accepted(
    nc: NATS, settings: Settings, *, sender: str, receiver: str
) -> CloudEvent:
    data = ReferralAccepted(
        referral_id=uuid.uuid4(),
        client_id=uuid.uuid4(),
        sending_agency_id=sender,
        receiving_agency_id=receiver,
        service_id=None,
        status="accepted",
        actor="someone",
        occurred_at=CloudEvent.wrap(ReferralAcceptedStub(), source="x").time,
    )
    event = CloudEvent.wrap(data, source="/passage/referrals", subject=f"referral/{data.referral_id}")
    await nc.jetstream().publish(
        subject(event.type, settings.nats_namespace), event.data, headers=event.headers()
    )
    return event


class ReferralAcceptedStub:  # only for a timestamp
    event_type = "x"

    def model_dump_json(self) -> str:
        return "{}"

    @classmethod
    def dataschema(cls) -> str:
        return "x"


async def test_a_partner_verifies_the_test_event_with_its_own_standard_webhooks_code(
    service: httpx.AsyncClient, receiver: Receiver, token: Any
) -> None:
    created = await register(
        service, token, receiver.url("/verify"), "agency-w1", ["referrals.referral.accepted"]
    )
    assert created["secret"].startswith("whsec_")
    assert len(base64.b64decode(created["secret"][6:])) >= 24
    answer = await service.post(
        f"/v1/webhooks/{created['id']}/test",
        headers=bearer(token(agency="agency-w1", roles=("agency_admin",))),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "succeeded"
    [got] = receiver.at("/verify")
    assert verify_standard_webhook(created["secret"], got.headers, got.body)
    assert not verify_standard_webhook(
        "whsec_" + base64.b64encode(os.urandom(32)).decode(), got.headers, got.body
    )
    assert json.loads(got.body)["type"] == "webhook.test"
    # The secret is shown once: reading the endpoint never returns it.
    read = await service.get(
        f"/v1/webhooks/{created['id']}", headers=bearer(token(agency="agency-w1", roles=("agency_admin",)))
    )
    assert "secret" not in read.json()


async def test_after_rotation_both_secrets_sign_during_the_overlap(
    service: httpx.AsyncClient, receiver: Receiver, token: Any
) -> None:
    admin = bearer(token(agency="agency-w2", roles=("agency_admin",)))
    created = await register(
        service, token, receiver.url("/rotate"), "agency-w2", ["referrals.referral.accepted"]
    )
    rotated = (
        await service.post(f"/v1/webhooks/{created['id']}/rotate-secret", json={}, headers=admin)
    ).json()
    assert rotated["secret"] != created["secret"]
    await service.post(f"/v1/webhooks/{created['id']}/test", headers=admin)
    got = receiver.at("/rotate")[-1]
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    assert verify_standard_webhook(created["secret"], got.headers, got.body)
    assert verify_standard_webhook(rotated["secret"], got.headers, got.body)


async def test_an_event_reaches_subscribed_partners_once_with_a_thin_payload_even_when_redelivered(
    service: httpx.AsyncClient, receiver: Receiver, token: Any, nc: NATS, settings: Settings
) -> None:
    created = await register(
        service, token, receiver.url("/once"), "agency-w3", ["referrals.referral.accepted"]
    )
    event = await publish_referral_accepted(nc, settings, sender="agency-w3", receiver="agency-other")
    # The same event again, as a redelivery would bring it (a new NATS message id, the same event id).
    headers = {**event.headers(), "Nats-Msg-Id": str(uuid.uuid4())}
    await nc.jetstream().publish(subject(event.type, settings.nats_namespace), event.data, headers=headers)
    await eventually(lambda: _async(receiver.at("/once")))
    got = receiver.at("/once")[0]
    assert verify_standard_webhook(created["secret"], got.headers, got.body)
    payload = json.loads(got.body)
    assert payload["type"] == "referrals.referral.accepted"
    assert payload["data"]["resource"]["type"] == "referral"
    referral_id = str(event.parse(ReferralAccepted).referral_id)
    assert payload["data"]["resource"]["id"] == referral_id
    assert payload["data"]["links"] == {
        "graphql": "https://gateway.passage.test/graphql",
        "resource": "referral",
        "id": referral_id,
    }
    import asyncio

    await asyncio.sleep(1.0)
    assert len(receiver.at("/once")) == 1


async def _async(value: Any) -> Any:
    return value


async def test_failures_retry_with_capped_backoff_then_dead_letter_and_replay(
    service: httpx.AsyncClient, receiver: Receiver, token: Any, nc: NATS, settings: Settings
) -> None:
    admin = bearer(token(agency="agency-w4", roles=("agency_admin",)))
    receiver.answer("/flaky", 503, 500, (429, {"Retry-After": "1"}), 502)
    created = await register(
        service, token, receiver.url("/flaky"), "agency-w4", ["referrals.referral.accepted"]
    )
    await publish_referral_accepted(nc, settings, sender="agency-w4", receiver="agency-other")

    async def dead() -> list[dict[str, Any]]:
        page = (await service.get("/v1/deliveries?state=dead_lettered", headers=admin)).json()
        return [d for d in page["items"] if d["endpoint_id"] == created["id"]]

    [letter] = await eventually(dead, timeout=20)
    hits = receiver.at("/flaky")
    assert len(hits) == 4
    assert letter["attempts"] == 4
    gaps = [b.at - a.at for a, b in itertools.pairwise(hits)]
    # base 0.4 s doubling, capped at 1.6 s, equal jitter: waits in [d/2, d]; the 429 waits >= Retry-After.
    assert 0.2 <= gaps[0] <= 0.4 + 0.5
    assert 0.4 <= gaps[1] <= 0.8 + 0.5
    assert 1.0 <= gaps[2] <= 1.6 + 0.5
    assert len({h.headers["webhook-id"] for h in hits}) == 1  # the same message id on every try

    replay = await service.post(f"/v1/deliveries/{letter['id']}/replay", headers=admin)
    assert replay.status_code == 200, replay.text

    async def delivered() -> bool:
        d = (await service.get(f"/v1/deliveries/{letter['id']}", headers=admin)).json()
        return bool(d["state"] == "succeeded")

    await eventually(delivered, timeout=10)
    assert len(receiver.at("/flaky")) == 5
    again = await service.post(f"/v1/deliveries/{letter['id']}/replay", headers=admin)
    assert again.status_code == 409


async def test_a_4xx_answer_is_not_retried(
    service: httpx.AsyncClient, receiver: Receiver, token: Any, nc: NATS, settings: Settings
) -> None:
    admin = bearer(token(agency="agency-w5", roles=("agency_admin",)))
    receiver.answer("/gone", 400)
    created = await register(
        service, token, receiver.url("/gone"), "agency-w5", ["referrals.referral.accepted"]
    )
    await publish_referral_accepted(nc, settings, sender="agency-w5", receiver="agency-other")

    async def dead() -> list[dict[str, Any]]:
        page = (await service.get("/v1/deliveries?state=dead_lettered", headers=admin)).json()
        return [d for d in page["items"] if d["endpoint_id"] == created["id"]]

    [letter] = await eventually(dead, timeout=10)
    assert letter["attempts"] == 1
    assert letter["last_status_code"] == 400
    assert len(receiver.at("/gone")) == 1


async def test_an_endpoint_that_keeps_failing_is_disabled_and_its_admins_told(
    service: httpx.AsyncClient, receiver: Receiver, token: Any, nc: NATS, settings: Settings
) -> None:
    admin = bearer(token(agency="agency-w6", roles=("agency_admin",)))
    receiver.answer("/down", *([500] * 20))
    created = await register(
        service, token, receiver.url("/down"), "agency-w6", ["referrals.referral.accepted"]
    )
    for _ in range(2):
        await publish_referral_accepted(nc, settings, sender="agency-w6", receiver="agency-other")

    async def disabled() -> bool:
        endpoint = (await service.get(f"/v1/webhooks/{created['id']}", headers=admin)).json()
        return not endpoint["enabled"]

    await eventually(disabled, timeout=20)
    notices = (await service.get("/v1/notifications", headers=admin)).json()["items"]
    assert any(n["kind"] == "notifications.endpoint.disabled" for n in notices)
    case_worker = bearer(token(agency="agency-w6", roles=("case_worker",)))
    assert not any(
        n["kind"] == "notifications.endpoint.disabled"
        for n in (await service.get("/v1/notifications", headers=case_worker)).json()["items"]
    )


async def test_webhook_urls_off_loopback_are_refused_in_development(
    service: httpx.AsyncClient, token: Any
) -> None:
    response = await service.post(
        "/v1/webhooks",
        json={"url": "https://partner.example/hooks", "event_types": ["referrals.referral.accepted"]},
        headers=bearer(token(agency="agency-w7", roles=("agency_admin",))),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.url"


async def test_a_retried_registration_with_the_same_key_returns_the_first_endpoint_and_secret(
    service: httpx.AsyncClient, receiver: Receiver, token: Any, db: Any
) -> None:
    admin = bearer(token(agency="agency-w8", roles=("agency_admin",)))
    body = {"url": receiver.url("/idem"), "event_types": ["referrals.referral.accepted"]}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await service.post("/v1/webhooks", json=body, headers={**admin, **key})
    again = await service.post("/v1/webhooks", json=body, headers={**admin, **key})
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    listed = (await service.get("/v1/webhooks", headers=admin)).json()["items"]
    assert [w["id"] for w in listed] == [first.json()["id"]]
    # The kept answer holds the secret sealed, never in clear.
    kept = await db.fetchval(
        "SELECT body::text FROM notifications.idempotency_keys WHERE key = $1", key["Idempotency-Key"]
    )
    assert first.json()["secret"] not in kept

    other = await service.post(
        "/v1/webhooks", json={**body, "description": "another"}, headers={**admin, **key}
    )
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "header.Idempotency-Key"


async def test_a_retried_test_send_replay_and_rotation_happen_once(
    service: httpx.AsyncClient, receiver: Receiver, token: Any
) -> None:
    admin = bearer(token(agency="agency-w9", roles=("agency_admin",)))
    created = await register(
        service, token, receiver.url("/idem-test"), "agency-w9", ["referrals.referral.accepted"]
    )
    key = {"Idempotency-Key": "send-test-1"}
    sends = [
        await service.post(f"/v1/webhooks/{created['id']}/test", headers={**admin, **key}) for _ in range(2)
    ]
    assert sends[0].json() == sends[1].json()
    assert len(receiver.at("/idem-test")) == 1

    key = {"Idempotency-Key": "rotate-1"}
    rotations = [
        await service.post(
            f"/v1/webhooks/{created['id']}/rotate-secret",
            json={"overlap_seconds": 60},
            headers={**admin, **key},
        )
        for _ in range(2)
    ]
    assert rotations[0].status_code == rotations[1].status_code == 200
    assert rotations[0].json()["secret"] == rotations[1].json()["secret"]
    # The endpoint now signs with exactly the returned secret (and the first one, during the overlap).
    await service.post(f"/v1/webhooks/{created['id']}/test", headers=admin)
    got = receiver.at("/idem-test")[-1]
    assert verify_standard_webhook(rotations[0].json()["secret"], got.headers, got.body)
    # Rotated once: the original secret is still the one in overlap (a second rotation would drop it).
    assert verify_standard_webhook(created["secret"], got.headers, got.body)
    assert len(got.headers["webhook-signature"].split(" ")) == 2
