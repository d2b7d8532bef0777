"""The client file: the MRC minimum data set, categories, agency scope, sensitive cases, ETags."""

from __future__ import annotations

from typing import Any

from nats.aio.client import Client as NATS

from tests.intake.conftest import published, unique_name

FULL = {
    "given_name": "Aminata",
    "family_name": "Diallo",
    "other_names": ["Ami"],
    "birth_date": "1994-03-02",
    "sex": "female",
    "gender": "woman",
    "marital_status": "married",
    "dependants": 2,
    "education_level": "secondary",
    "nationality": "SN",
    "area": {"admin1": "Dakar", "admin2": "Pikine"},
    "phone": "+221 77 000 00 00",
    "email": "aminata@example.org",
    "preferred_contact_channel": "sms",
    "emergency_contact": {"name": "Moussa Diallo", "relationship": "brother", "phone": "+221 77 111 11 11"},
    "preferred_language": "fr",
    "second_language": "wo",
    "interpreter_needed": False,
    "employment_status": "unemployed",
    "occupation": "tailor",
    "migration_phase": "returnee",
    "migration_history": [{"country": "LY", "from_date": "2019-01-01", "to_date": "2021-06-01"}],
    "destination_country": "IT",
    "migration_reasons": ["work"],
    "enquiring_on_behalf_of_others": False,
    "vulnerabilities": ["serious_medical_condition"],
    "services_sought": ["employment", "health"],
    "services_received": ["counselling"],
    "identity_documents": [{"kind": "passport", "number": "A123", "expires_on": "2027-01-31"}],
    "notes": "Came with her sister.",
}


async def test_the_minimum_data_set_is_stored_and_read_back_with_metadata(caller: Any, nc: NATS) -> None:
    worker = caller()
    created = await worker.post("/v1/clients", json={**FULL, "family_name": unique_name()})
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["etag"] == '"1"'
    read = (await worker.get(f"/v1/clients/{body['id']}")).json()
    for key, value in FULL.items():
        if key not in ("family_name", "identity_documents", "migration_history"):
            got = read[key]
            if isinstance(value, dict):
                got = {k: v for k, v in got.items() if v is not None}
            assert got == value, key
    assert read["birth_year"] == 1994  # derived from the birth date
    assert read["identity_documents"][0]["expires_on"] == "2027-01-31"
    assert read["status"] == "open"
    assert read["version"] == 1
    assert read["sensitive"] is False
    event = await published(nc, "intake.client.registered", client_id=body["id"])
    assert event["document_expiries"][0]["expires_on"] == "2027-01-31"
    assert "given_name" not in event  # ids and codes only


async def test_every_personal_field_has_one_category(caller: Any) -> None:
    categories = (await caller().get("/v1/schema/categories")).json()
    for field in FULL:
        assert categories[field] in {
            "identity",
            "contact",
            "demographics",
            "legal_status",
            "needs",
            "protection",
            "health",
            "psychosocial",
            "economic",
            "case_notes",
        }, field
    assert categories["given_name"] == "identity"
    assert categories["phone"] == "contact"
    assert categories["vulnerabilities"] == "protection"
    assert categories["followup.notes"] == "case_notes"


async def test_another_agencys_client_is_not_found(caller: Any) -> None:
    owner = caller("agency-owner")
    client = await owner.register()
    for url in (f"/v1/clients/{client['id']}", f"/v1/clients/{client['id']}/consents"):
        response = await caller("agency-stranger").get(url)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
    batch = (await caller("agency-stranger").get("/v1/clients", params={"ids": client["id"]})).json()
    assert batch["items"] == []


async def test_the_service_role_reads_across_agencies_in_batches(caller: Any) -> None:
    a = await caller("agency-x").register()
    b = await caller("agency-y").register()
    service = caller("passage", roles=("service",))
    got = (await service.get("/v1/clients", params={"ids": f"{a['id']},{b['id']}"})).json()
    assert [c["id"] for c in got["items"]] == [a["id"], b["id"]]
    assert (await service.post("/v1/clients", json={"given_name": "x"})).status_code == 403


async def test_a_trafficking_case_is_hidden_from_other_case_workers_of_the_agency(caller: Any) -> None:
    agency = "agency-sensitive"
    mine = caller(agency, sub="worker-1")
    client = await mine.register(vulnerabilities=["victim_of_trafficking"])
    assert client["sensitive"] is True
    assert client["sensitivity_reasons"] == ["victim_of_trafficking"]
    assert (await mine.get(f"/v1/clients/{client['id']}")).status_code == 200
    assert (await caller(agency, sub="worker-2").get(f"/v1/clients/{client['id']}")).status_code == 404
    supervisor = caller(agency, roles=("supervisor",), sub="lead")
    assert (await supervisor.get(f"/v1/clients/{client['id']}")).status_code == 200


async def test_a_stale_etag_gets_412_and_a_missing_one_428(caller: Any, nc: NATS) -> None:
    worker = caller()
    client = await worker.register()
    url = f"/v1/clients/{client['id']}"
    first = await worker.patch(url, json={"phone": "+221 77 222 22 22"}, headers={"If-Match": '"1"'})
    assert first.status_code == 200, first.text
    assert first.headers["etag"] == '"2"'
    stale = await worker.patch(url, json={"phone": "+221 77 333 33 33"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.json()["errors"][0]["field"] == "header.If-Match"
    assert (await worker.patch(url, json={"phone": "+221 1"})).status_code == 428
    assert (await worker.get(url)).json()["phone"] == "+221 77 222 22 22"
    event = await published(nc, "intake.client.updated", client_id=client["id"])
    assert event["changed_categories"] == ["contact"]
    assert event["record_version"] == 2


async def test_a_bad_field_is_named_in_the_problem(caller: Any) -> None:
    response = await caller().post(
        "/v1/clients", json={"given_name": "A", "family_name": "B", "sex": "female", "phone": "call me"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == ["body.phone"]


async def test_lists_page_with_a_cursor_and_filter(caller: Any) -> None:
    worker = caller()
    made = [await worker.register(migration_phase="returnee" if i % 2 else "in_transit") for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await worker.get("/v1/clients", params=params)).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [c["id"] for c in made]
    returnees = (await worker.get("/v1/clients", params={"migration_phase": "returnee"})).json()
    assert {c["id"] for c in returnees["items"]} == {made[1]["id"], made[3]["id"]}
    assert (await worker.get("/v1/clients", params={"cursor": "nonsense"})).status_code == 400
