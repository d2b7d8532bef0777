"""Consents as records (FHIR R5 Consent shaped), and their withdrawal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from nats.aio.client import Client as NATS

from tests.intake.conftest import published

CONSENT = {
    "grantee_agency_id": "harbour-aid",
    "purposes": ["referral"],
    "categories": ["identity", "contact", "needs"],
    "obtained_by": "written",
    "language": "fr",
}


async def test_withdrawal_emits_its_event_and_ends_the_consent_at_once(caller: Any, nc: NATS) -> None:
    worker = caller()
    client = await worker.register()
    granted = await worker.post(f"/v1/clients/{client['id']}/consents", json=CONSENT)
    assert granted.status_code == 201, granted.text
    consent = granted.json()
    assert consent["status"] == "active"
    assert consent["agency_id"] == client["agency_id"]
    await published(nc, "intake.consent.granted", consent_id=consent["id"])

    withdrawn = await worker.post(f"/v1/consents/{consent['id']}/withdraw", json={"reason": "Asked by phone"})
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["status"] == "withdrawn"
    event = await published(nc, "intake.consent.withdrawn", consent_id=consent["id"])
    assert event["client_id"] == client["id"]
    assert event["grantee_agency_id"] == "harbour-aid"
    assert "reason" not in event  # free text stays in intake

    active = (
        await worker.get(
            f"/v1/clients/{client['id']}/consents", params={"active_at": _iso(datetime.now(UTC))}
        )
    ).json()
    assert active["items"] == []
    again = await worker.post(f"/v1/consents/{consent['id']}/withdraw", json={"reason": "twice"})
    assert again.status_code == 409


async def test_active_at_answers_for_a_given_time(caller: Any) -> None:
    worker = caller()
    client = await worker.register()
    now = datetime.now(UTC)
    url = f"/v1/clients/{client['id']}/consents"
    past = await worker.post(
        url,
        json={
            **CONSENT,
            "period_start": _iso(now - timedelta(days=30)),
            "period_end": _iso(now - timedelta(days=1)),
        },
    )
    open_ended = await worker.post(url, json={**CONSENT, "grantee_agency_id": None, "categories": ["all"]})
    assert past.status_code == open_ended.status_code == 201
    at_now = (await worker.get(url, params={"active_at": _iso(now + timedelta(seconds=1))})).json()["items"]
    assert [c["id"] for c in at_now] == [open_ended.json()["id"]]
    last_week = (await worker.get(url, params={"active_at": _iso(now - timedelta(days=7))})).json()["items"]
    assert [c["id"] for c in last_week] == [past.json()["id"]]
    assert (await worker.get(f"/v1/consents/{past.json()['id']}")).json()["status"] == "expired"


async def test_a_consent_names_known_categories_and_its_witness(caller: Any) -> None:
    worker = caller()
    client = await worker.register()
    url = f"/v1/clients/{client['id']}/consents"
    bad = await worker.post(url, json={**CONSENT, "categories": ["everything"]})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"].startswith("body.categories")
    unwitnessed = await worker.post(url, json={**CONSENT, "obtained_by": "witnessed"})
    assert unwitnessed.status_code == 422
    witnessed = await worker.post(url, json={**CONSENT, "obtained_by": "witnessed", "witness": "Fatou Sarr"})
    assert witnessed.status_code == 201


def _iso(at: datetime) -> str:
    return at.isoformat()


async def test_a_consent_past_its_period_is_announced_as_expired(caller: Any, nc: NATS) -> None:
    worker = caller()
    client = await worker.register()
    end = datetime.now(UTC) + timedelta(seconds=1)
    granted = await worker.post(
        f"/v1/clients/{client['id']}/consents", json={**CONSENT, "period_end": _iso(end)}
    )
    assert granted.status_code == 201
    event = await published(nc, "intake.consent.expired", consent_id=granted.json()["id"])
    assert event["client_id"] == client["id"]
