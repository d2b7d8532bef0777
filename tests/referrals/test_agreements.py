"""Data-sharing agreements (the SOPs as data): proposed by one party, in force only once every party
signed, versioned, answerable for any past moment, revocable, and announced on every change."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from nats.aio.client import Client as NATS
from nats.js.api import ConsumerConfig, DeliverPolicy

from passage.bus.nats import stream_name, subject
from passage.settings import Settings
from tests.referrals.conftest import new_agency
from tests.support import eventually


def _direction(sender: str, receiver: str, **extra: Any) -> dict[str, Any]:
    return {
        "from_agency": sender,
        "to_agency": receiver,
        "categories": ["identity", "contact", "needs"],
        "purposes": ["referral"],
        "referral_types": ["any"],
        "sla_hours": 48,
        "who_may_refer": ["case_worker", "supervisor"],
        **extra,
    }


def _proposal(a: str, b: str, **extra: Any) -> dict[str, Any]:
    return {
        "parties": [a, b],
        "valid_from": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
        "directions": [_direction(a, b)],
        **extra,
    }


async def _propose(person: Any, a: str, b: str, **extra: Any) -> dict[str, Any]:
    response = await person(a, "agency_admin").post("/v1/agreements", json=_proposal(a, b, **extra))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _between(person: Any, a: str, b: str, at: datetime | None = None) -> list[dict[str, Any]]:
    params = {"between": f"{a},{b}"}
    if at is not None:
        params["at"] = at.isoformat()
    response = await person(a).get("/v1/agreements", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def _changes(nc: NATS, settings: Settings, agreement_ids: set[str]) -> list[dict[str, Any]]:
    """The `referrals.agreement.changed` events about these agreements, in publication order."""
    js = nc.jetstream()
    sub = await js.pull_subscribe(
        subject("referrals.agreement.changed", settings.nats_namespace),
        stream=stream_name("referrals", settings.nats_namespace),
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, inactive_threshold=5),
    )
    found: list[dict[str, Any]] = []
    try:
        pending = (await sub.consumer_info()).num_pending
        while pending > 0:
            batch = await sub.fetch(batch=min(pending, 500), timeout=5)
            pending -= len(batch)
            for message in batch:
                payload = json.loads(message.data)
                if payload["agreement_id"] in agreement_ids:
                    found.append(payload)
    finally:
        await sub.unsubscribe()
    return found


async def test_an_agreement_is_in_force_only_once_the_other_partys_admin_signed(
    person: Any, referrals: Any
) -> None:
    a, b = new_agency("a"), new_agency("b")
    proposed = await _propose(person, a, b)
    assert proposed["status"] == "proposed"
    assert proposed["in_force"] is False
    assert [s["agency_id"] for s in proposed["signatures"]] == [a]  # the proposer signs by proposing
    assert await _between(person, a, b, datetime.now(UTC)) == []  # nothing applies yet

    # The proposer cannot sign a second time: the other party must.
    again = await person(a, "agency_admin").post(f"/v1/agreements/{proposed['id']}/sign")
    assert again.status_code == 409, again.text

    signed = await person(b, "agency_admin", sub="admin-of-b").post(f"/v1/agreements/{proposed['id']}/sign")
    assert signed.status_code == 200, signed.text
    body = signed.json()
    assert body["status"] == "active"
    assert body["in_force"] is True
    assert {s["agency_id"] for s in body["signatures"]} == {a, b}
    assert next(s for s in body["signatures"] if s["agency_id"] == b)["signed_by"] == "admin-of-b"
    now_applying = await _between(person, a, b, datetime.now(UTC))
    assert [x["id"] for x in now_applying] == [proposed["id"]]


async def test_only_an_agency_admin_of_the_other_party_can_sign(person: Any, referrals: Any) -> None:
    a, b, outsider = new_agency("a"), new_agency("b"), new_agency("x")
    proposed = await _propose(person, a, b)
    url = f"/v1/agreements/{proposed['id']}/sign"

    # A case worker or supervisor of the party: 403 (the route admits agency_admin and coordinator only).
    for role in ("case_worker", "supervisor"):
        response = await person(b, role).post(url)
        assert response.status_code == 403, (role, response.text)
    # A third agency's admin: not a party.
    third = await person(outsider, "agency_admin").post(url)
    assert third.status_code == 403, third.text
    # A coordinator signs only the network's side; this agreement has none.
    coordinator = await person("network-office", "coordinator").post(url)
    assert coordinator.status_code == 403, coordinator.text

    still = await person(a).get(f"/v1/agreements/{proposed['id']}")
    assert still.json()["status"] == "proposed"
    assert len(still.json()["signatures"]) == 1


async def test_a_third_agency_cannot_sign_revoke_or_read_an_agreement(person: Any, referrals: Any) -> None:
    a, b, outsider = new_agency("a"), new_agency("b"), new_agency("x")
    proposed = await _propose(person, a, b)
    for action in ("sign", "revoke"):
        response = await person(outsider, "agency_admin").post(f"/v1/agreements/{proposed['id']}/{action}")
        assert response.status_code == 403, (action, response.text)
    assert (await person(outsider).get(f"/v1/agreements/{proposed['id']}")).status_code == 404
    assert await _between(person, outsider, a) == []
    unknown = await person(a, "agency_admin").post("/v1/agreements/00000000-0000-4000-8000-000000000000/sign")
    assert unknown.status_code == 404


async def test_a_new_version_once_signed_supersedes_the_old_and_between_answers_for_any_moment(
    person: Any, referrals: Any
) -> None:
    a, b = new_agency("a"), new_agency("b")
    v1 = await _propose(person, a, b)
    await person(b, "agency_admin").post(f"/v1/agreements/{v1['id']}/sign")
    await asyncio.sleep(0.05)
    while_v1 = datetime.now(UTC)
    await asyncio.sleep(0.05)

    # Version 2 with a shorter SLA, proposed by the other party this time.
    v2 = (
        await person(b, "agency_admin").post(
            "/v1/agreements",
            json={
                **_proposal(a, b),
                "directions": [_direction(a, b, sla_hours=24)],
                "supersedes": v1["id"],
            },
        )
    ).json()
    assert v2["version"] == 2
    assert v2["series_id"] == v1["series_id"]
    assert v2["status"] == "proposed"
    # Until v2 is signed, v1 still applies.
    assert [x["id"] for x in await _between(person, a, b, datetime.now(UTC))] == [v1["id"]]

    signed = await person(a, "agency_admin").post(f"/v1/agreements/{v2['id']}/sign")
    assert signed.status_code == 200, signed.text
    assert signed.json()["status"] == "active"
    old = (await person(a).get(f"/v1/agreements/{v1['id']}")).json()
    assert old["status"] == "superseded"
    assert old["effective_to"] is not None

    at_past = await _between(person, a, b, while_v1)
    assert [x["id"] for x in at_past] == [v1["id"]]
    assert at_past[0]["in_force"] is True
    at_now = await _between(person, a, b, datetime.now(UTC))
    assert [x["id"] for x in at_now] == [v2["id"]]
    assert at_now[0]["directions"][0]["sla_hours"] == 24
    # Without `at`: every version, the one in force now first.
    every = await _between(person, a, b)
    assert [x["id"] for x in every] == [v2["id"], v1["id"]]
    assert [x["in_force"] for x in every] == [True, False]
    # Before either was signed, nothing applied.
    before = datetime.fromisoformat(v1["created_at"]) - timedelta(seconds=1)
    assert await _between(person, a, b, before) == []


async def test_a_new_version_must_keep_the_parties(person: Any, referrals: Any) -> None:
    a, b, c = new_agency("a"), new_agency("b"), new_agency("c")
    v1 = await _propose(person, a, b)
    response = await person(a, "agency_admin").post(
        "/v1/agreements", json={**_proposal(a, c), "supersedes": v1["id"]}
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "body.parties"


async def test_a_revoked_agreement_stops_applying_at_once(person: Any, referrals: Any) -> None:
    a, b = new_agency("a"), new_agency("b")
    agreement = await _propose(person, a, b)
    await person(b, "agency_admin").post(f"/v1/agreements/{agreement['id']}/sign")
    before = datetime.now(UTC)
    await asyncio.sleep(0.05)

    # Only an agency_admin of a party revokes.
    assert (await person(a, "supervisor").post(f"/v1/agreements/{agreement['id']}/revoke")).status_code == 403
    revoked = await person(b, "agency_admin").post(f"/v1/agreements/{agreement['id']}/revoke")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked"
    assert revoked.json()["in_force"] is False
    assert await _between(person, a, b, datetime.now(UTC)) == []
    assert [x["id"] for x in await _between(person, a, b, before)] == [agreement["id"]]
    twice = await person(a, "agency_admin").post(f"/v1/agreements/{agreement['id']}/revoke")
    assert twice.status_code == 409


async def test_a_network_agreement_is_signed_by_a_coordinator_and_applies_to_any_pair(
    person: Any, referrals: Any
) -> None:
    a, b = new_agency("a"), new_agency("b")
    proposed = await _propose(person, a, "network", directions=[_direction(a, "network")])
    assert proposed["parties"] == [a, "network"]
    # An agency_admin of another agency cannot sign for the network.
    other = await person(b, "agency_admin").post(f"/v1/agreements/{proposed['id']}/sign")
    assert other.status_code == 403, other.text
    signed = await person("network-office", "coordinator").post(f"/v1/agreements/{proposed['id']}/sign")
    assert signed.status_code == 200, signed.text
    assert signed.json()["status"] == "active"
    assert {s["agency_id"] for s in signed.json()["signatures"]} == {a, "network"}
    # Between a and any b, a's network agreement applies when they have none of their own.
    applying = await _between(person, a, b, datetime.now(UTC))
    assert [x["id"] for x in applying] == [proposed["id"]]


async def test_every_change_emits_agreement_changed_naming_the_parties(
    person: Any, referrals: Any, nc: NATS, settings: Settings
) -> None:
    a, b = new_agency("a"), new_agency("b")
    v1 = await _propose(person, a, b)
    await person(b, "agency_admin").post(f"/v1/agreements/{v1['id']}/sign")
    v2 = (
        await person(a, "agency_admin").post(
            "/v1/agreements", json={**_proposal(a, b), "supersedes": v1["id"]}
        )
    ).json()
    await person(b, "agency_admin").post(f"/v1/agreements/{v2['id']}/sign")
    await person(a, "agency_admin").post(f"/v1/agreements/{v2['id']}/revoke")

    expected = [
        (v1["id"], "proposed"),
        (v1["id"], "active"),
        (v2["id"], "proposed"),
        (v1["id"], "superseded"),
        (v2["id"], "active"),
        (v2["id"], "revoked"),
    ]

    async def all_published() -> list[dict[str, Any]] | None:
        events = await _changes(nc, settings, {v1["id"], v2["id"]})
        return events if len(events) >= len(expected) else None

    events = await eventually(all_published, timeout=20)
    assert [(e["agreement_id"], e["status"]) for e in events] == expected
    for event in events:
        assert event["parties"] == [a, b]
        assert event["version_number"] == (1 if event["agreement_id"] == v1["id"] else 2)


async def test_a_moment_the_database_cannot_hold_is_a_400(person: Any, referrals: Any) -> None:
    a, b = new_agency("a"), new_agency("b")
    ancient = "0001-01-01T00:00:00+01:00"  # year 0 once in UTC
    response = await person(a).get("/v1/agreements", params={"between": f"{a},{b}", "at": ancient})
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == "query.at"
    hsds = await person(a).get("/v1/hsds/services", params={"modified_after": ancient})
    assert hsds.status_code == 400, hsds.text
