"""`consent_revision` moves with every change to a client's consents (and never the ETag), and
`GET /v1/consents?client_ids=` answers many clients' consents with the revision of the same snapshot:
together they let the gateway cache consents and still have a withdrawal bind the next request."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from services.intake.service import MAX_CONSENTS_PER_CLIENT
from tests.intake.conftest import Caller
from tests.support import eventually

CONSENT = {
    "grantee_agency_id": "harbour-aid",
    "purposes": ["referral"],
    "categories": ["identity", "contact"],
    "obtained_by": "written",
}


async def revision_and_etag(who: Caller, client_id: str) -> tuple[int, int, str]:
    response = await who.get(f"/v1/clients/{client_id}")
    assert response.status_code == 200, response.text
    body = response.json()
    return body["consent_revision"], body["version"], response.headers["ETag"]


async def grant(who: Caller, client_id: str, **extra: Any) -> dict[str, Any]:
    response = await who.post(f"/v1/clients/{client_id}/consents", json={**CONSENT, **extra})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def batch(who: Caller, *ids: str, **params: str) -> Any:
    return await who.get("/v1/consents", params={"client_ids": ",".join(ids), **params})


async def test_grant_and_withdrawal_move_the_revision_but_leave_the_etag(caller: Any) -> None:
    worker = caller()
    client = await worker.register()
    assert client["consent_revision"] == 0
    assert await revision_and_etag(worker, client["id"]) == (0, 1, '"1"')

    consent = await grant(worker, client["id"])
    assert await revision_and_etag(worker, client["id"]) == (1, 1, '"1"')

    withdrawn = await worker.post(f"/v1/consents/{consent['id']}/withdraw", json={"reason": "Asked"})
    assert withdrawn.status_code == 200, withdrawn.text
    assert await revision_and_etag(worker, client["id"]) == (2, 1, '"1"')
    listed = (await worker.get("/v1/clients", params={"ids": client["id"]})).json()["items"]
    assert [(c["id"], c["consent_revision"]) for c in listed] == [(client["id"], 2)]

    refused = await worker.post(f"/v1/consents/{consent['id']}/withdraw", json={"reason": "Twice"})
    assert refused.status_code == 409
    assert (await revision_and_etag(worker, client["id"]))[0] == 2, "a refused change moves nothing"

    # An edit of the file moves the ETag, not the consent revision.
    amended = await worker.patch(
        f"/v1/clients/{client['id']}", json={"phone": "+221 77 222 22 22"}, headers={"If-Match": '"1"'}
    )
    assert amended.status_code == 200, amended.text
    assert await revision_and_etag(worker, client["id"]) == (2, 2, '"2"')


async def test_the_expiry_timer_moves_the_revision(caller: Any) -> None:
    worker = caller()
    client = await worker.register()
    await grant(worker, client["id"], period_end=(datetime.now(UTC) + timedelta(seconds=1)).isoformat())
    assert (await revision_and_etag(worker, client["id"]))[:2] == (1, 1)

    async def expired() -> tuple[int, int, str] | None:
        seen = await revision_and_etag(worker, client["id"])
        return seen if seen[0] == 2 else None

    assert (await eventually(expired, timeout=15, interval=0.2))[:2] == (2, 1)


async def test_a_merge_moves_the_revision_of_both_records(caller: Any) -> None:
    agency = f"agency-rev-{uuid.uuid4().hex[:6]}"
    worker = caller(agency)
    kept = await worker.register()
    duplicate = await worker.register()
    await grant(worker, duplicate["id"])
    lead = caller(agency, roles=("supervisor",))
    merged = await lead.post(f"/v1/clients/{kept['id']}/merge", json={"duplicate_id": duplicate["id"]})
    assert merged.status_code == 200, merged.text
    assert merged.json()["consent_revision"] == 1, "the answer shows the revision the merge set"
    assert (await revision_and_etag(lead, kept["id"]))[0] == 1
    assert (await revision_and_etag(lead, duplicate["id"]))[0] == 2

    # The cache's view: the consent is now the kept record's, at its new revision.
    items = (await batch(lead, kept["id"], duplicate["id"])).json()["items"]
    assert [(i["client_id"], i["consent_revision"], len(i["consents"])) for i in items] == [
        (kept["id"], 1, 1),
        (duplicate["id"], 2, 0),
    ]


async def test_a_merge_without_consents_leaves_the_revisions(caller: Any) -> None:
    agency = f"agency-rev-{uuid.uuid4().hex[:6]}"
    worker = caller(agency)
    kept, duplicate = await worker.register(), await worker.register()
    lead = caller(agency, roles=("supervisor",))
    merged = await lead.post(f"/v1/clients/{kept['id']}/merge", json={"duplicate_id": duplicate["id"]})
    assert merged.status_code == 200, merged.text
    assert (await revision_and_etag(lead, kept["id"]))[0] == 0
    assert (await revision_and_etag(lead, duplicate["id"]))[0] == 0


async def test_anonymisation_that_scrubs_consents_moves_the_revision(
    caller: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASSAGE_INTAKE_RETENTION_DAYS", "0")
    worker = caller(roles=("case_worker", "supervisor"))
    client = await worker.register()
    await grant(worker, client["id"], obtained_by="witnessed", witness="Fatou Sarr")
    closed = await worker.post(f"/v1/clients/{client['id']}/close", json={"reason": "plan_completed"})
    assert closed.status_code == 200, closed.text

    async def anonymised() -> dict[str, Any] | None:
        body = dict((await worker.get(f"/v1/clients/{client['id']}")).json())
        return body if body["status"] == "anonymised" else None

    body = await eventually(anonymised, timeout=15, interval=0.2)
    assert body["consent_revision"] == 2
    consents = (await batch(worker, client["id"])).json()["items"][0]["consents"]
    assert consents[0]["witness"] is None


async def test_consent_revision_is_metadata_not_a_personal_field(caller: Any) -> None:
    categories = (await caller().get("/v1/schema/categories")).json()
    assert "consent_revision" not in categories
    assert "version" not in categories
    assert categories["given_name"] == "identity"


# -- GET /v1/consents?client_ids= ---------------------------------------------------------------------


async def test_batch_answers_readable_clients_in_the_order_given(caller: Any) -> None:
    agency = f"agency-a-{uuid.uuid4().hex[:6]}"
    worker = caller(agency)
    first, second, bare = await worker.register(), await worker.register(), await worker.register()
    one = await grant(worker, first["id"])
    two = await grant(worker, first["id"], grantee_agency_id="sea-aid")
    three = await grant(worker, second["id"])
    elsewhere = caller(f"agency-b-{uuid.uuid4().hex[:6]}")
    foreign = await elsewhere.register()
    await grant(elsewhere, foreign["id"])
    unknown = str(uuid.uuid4())

    ids = (second["id"], unknown, foreign["id"], first["id"], bare["id"], second["id"])
    response = await batch(worker, *ids)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [i["client_id"] for i in items] == [second["id"], first["id"], bare["id"]], (
        "in the order given, once each; unknown and other agencies' ids are left out"
    )
    by_client = {i["client_id"]: i for i in items}
    assert [c["id"] for c in by_client[first["id"]]["consents"]] == [one["id"], two["id"]]
    assert [c["id"] for c in by_client[second["id"]]["consents"]] == [three["id"]]
    assert by_client[bare["id"]] == {"client_id": bare["id"], "consent_revision": 0, "consents": []}
    assert by_client[first["id"]]["consent_revision"] == 2
    per_client = (await worker.get(f"/v1/clients/{first['id']}/consents")).json()["items"]
    assert by_client[first["id"]]["consents"] == per_client, "the same shape and order as the per-client list"

    service = caller("passage", roles=("service",))
    across = (await batch(service, first["id"], foreign["id"])).json()["items"]
    assert [i["client_id"] for i in across] == [first["id"], foreign["id"]], "service reads across agencies"
    assert across[1]["consent_revision"] == 1
    assert len(across[1]["consents"]) == 1


async def test_batch_follows_the_sensitive_case_scope(caller: Any) -> None:
    agency = f"agency-s-{uuid.uuid4().hex[:6]}"
    responsible = caller(agency)
    sensitive = await responsible.register(vulnerabilities=["victim_of_trafficking"])
    await grant(responsible, sensitive["id"])
    colleague = caller(agency)
    assert (await batch(colleague, sensitive["id"])).json()["items"] == []
    assert len((await batch(responsible, sensitive["id"])).json()["items"]) == 1
    assert (await batch(caller(agency, roles=("coordinator",)), sensitive["id"])).status_code == 403


async def test_batch_active_at_keeps_the_consents_in_force(caller: Any) -> None:
    worker = caller()
    client = await worker.register()
    now = datetime.now(UTC)
    past = await grant(
        worker,
        client["id"],
        period_start=(now - timedelta(days=30)).isoformat(),
        period_end=(now - timedelta(days=1)).isoformat(),
    )
    current = await grant(worker, client["id"])
    at_now = (await batch(worker, client["id"], active_at=(now + timedelta(seconds=1)).isoformat())).json()
    assert [c["id"] for c in at_now["items"][0]["consents"]] == [current["id"]]
    last_week = (await batch(worker, client["id"], active_at=(now - timedelta(days=7)).isoformat())).json()
    assert [(c["id"], c["status"]) for c in last_week["items"][0]["consents"]] == [(past["id"], "active")]
    everything = (await batch(worker, client["id"])).json()["items"][0]["consents"]
    assert [(c["id"], c["status"]) for c in everything] == [
        (past["id"], "expired"),
        (current["id"], "active"),
    ]


async def test_batch_refuses_malformed_or_too_many_ids_with_a_clear_422(caller: Any) -> None:
    worker = caller()
    for ids in ("not-a-uuid", f"{uuid.uuid4()},42"):
        response = await batch(worker, ids)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["field"] == "query.client_ids"
    too_many = await batch(worker, *(str(uuid.uuid4()) for _ in range(101)))
    assert too_many.status_code == 422
    assert too_many.json()["errors"][0] == {
        "field": "query.client_ids",
        "message": "101 ids",
        "code": "too_many",
    }
    missing = await worker.get("/v1/consents")
    assert missing.status_code == 422
    assert "client_ids" in missing.json()["errors"][0]["field"]
    hundred = await batch(worker, *(str(uuid.uuid4()) for _ in range(100)))
    assert hundred.status_code == 200
    assert hundred.json() == {"items": []}


async def test_batch_route_and_single_consent_route_do_not_collide(caller: Any) -> None:
    worker = caller()
    client = await worker.register()
    consent = await grant(worker, client["id"])
    one = await worker.get(f"/v1/consents/{consent['id']}")
    assert one.status_code == 200
    assert one.json()["id"] == consent["id"]
    many = await batch(worker, client["id"])
    assert many.status_code == 200
    assert many.json()["items"][0]["consents"][0]["id"] == consent["id"]
    assert (await worker.get(f"/v1/consents/{uuid.uuid4()}")).status_code == 404


async def test_after_a_withdrawal_the_batch_shows_the_new_revision_and_the_withdrawn_consent(
    caller: Any,
) -> None:
    worker = caller()
    client = await worker.register()
    consent = await grant(worker, client["id"])
    before = (await batch(worker, client["id"])).json()["items"][0]
    assert (before["consent_revision"], before["consents"][0]["status"]) == (1, "active")

    # Reads racing the withdrawal: each answer is one committed state, never a mix.
    async def withdraw() -> int:
        response = await worker.post(f"/v1/consents/{consent['id']}/withdraw", json={"reason": "Asked"})
        return int(response.status_code)

    async def read() -> tuple[int, str]:
        item = (await batch(worker, client["id"])).json()["items"][0]
        return item["consent_revision"], item["consents"][0]["status"]

    results = await asyncio.gather(*(read() for _ in range(8)), withdraw(), *(read() for _ in range(8)))
    assert results[8] == 200
    seen = [r for r in results if isinstance(r, tuple)]
    assert set(seen) <= {(1, "active"), (2, "withdrawn")}, seen

    after = (await batch(worker, client["id"])).json()["items"][0]
    assert (after["consent_revision"], after["consents"][0]["status"]) == (2, "withdrawn")
    assert after["consents"][0]["withdrawn_at"] is not None
    assert (await revision_and_etag(worker, client["id"]))[0] == after["consent_revision"]


async def test_a_client_with_too_many_consents_is_refused_not_cut(
    caller: Any, db: asyncpg.Connection
) -> None:
    """A cut list could drop a deny provision (a deny wins over any permit), so the batch refuses,
    names the client, and points to the per-client pages."""
    worker = caller()
    crowded, fine = await worker.register(), await worker.register()
    start = datetime.now(UTC) - timedelta(days=1)
    await db.executemany(
        "INSERT INTO intake.consents (id, client_id, agency_id, grantor, purposes, categories, decision, "
        "period_start, status, obtained_by, recorded_by, expiry_announced, created_at) "
        "VALUES ($1, $2, $3, 'client', $4::jsonb, $5::jsonb, 'permit', $6, 'active', 'verbal', 'test', "
        "false, $6)",
        [
            (
                uuid.uuid4(),
                uuid.UUID(crowded["id"]),
                crowded["agency_id"],
                json.dumps(["referral"]),
                json.dumps(["identity"]),
                start + timedelta(seconds=n),
            )
            for n in range(MAX_CONSENTS_PER_CLIENT + 1)
        ],
    )
    refused = await batch(worker, fine["id"], crowded["id"])
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"] == [
        {"field": "query.client_ids", "message": crowded["id"], "code": "too_many_consents"}
    ]
    assert "/consents" in refused.json()["detail"]
    assert (await batch(worker, fine["id"])).status_code == 200
    page = (await worker.get(f"/v1/clients/{crowded['id']}/consents", params={"limit": 100})).json()
    assert len(page["items"]) == 100
    assert page["next_cursor"]
