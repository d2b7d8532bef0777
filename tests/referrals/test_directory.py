"""The HSDS 3.0 directory: import (endpoint and CLI), the read API, search, pagination, events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from typing import Any

import httpx
from nats.aio.client import Client as NATS

from passage.settings import Settings
from tests.referrals.conftest import new_agency
from tests.support import component_env, eventually


def hsds_dataset(agency: str) -> dict[str, Any]:
    org, loc, svc, mentoring, site = (str(uuid.uuid4()) for _ in range(5))
    taxonomy, term_psy, term_mentor = (str(uuid.uuid4()) for _ in range(3))
    return {
        "taxonomies": [{"id": taxonomy, "name": f"Passage services {agency}"}],
        "taxonomy_terms": [
            {"id": term_psy, "code": "psychosocial", "name": "Psychosocial support", "taxonomy_id": taxonomy},
            {
                "id": term_mentor,
                "code": "mentoring",
                "name": "Mentoring",
                "taxonomy_id": taxonomy,
                "parent_id": term_psy,
            },
        ],
        "organizations": [
            {
                "id": org,
                "name": f"Harbour Aid {agency}",
                "description": "Returnee support",
                "agency_id": agency,
                "phones": [{"number": "+221 33 000 00 00"}],
            }
        ],
        "locations": [
            {
                "id": loc,
                "organization_id": org,
                "name": "Pikine centre",
                "location_type": "physical",
                "latitude": 14.75,
                "longitude": -17.39,
                "addresses": [{"address_1": "Rue 10", "city": "Pikine", "country": "SN"}],
            }
        ],
        "services": [
            {
                "id": svc,
                "organization_id": org,
                "name": f"Trauma counselling {agency}",
                "description": "Individual psychological counselling for returnees",
                "status": "active",
                "referral_type": "psychological_counselling",
                "eligibility_description": "Adults who returned in the last 12 months",
                "minimum_age": 18,
                "fees_description": "Free of charge",
                "languages": [{"code": "fr"}, {"code": "wo", "name": "Wolof"}],
                "service_areas": [{"name": "Dakar", "code": "SN-DK"}],
                "schedules": [
                    {"freq": "WEEKLY", "byday": "MO,WE", "opens_at": "09:00", "closes_at": "17:00"}
                ],
                "contacts": [{"name": "Intake desk", "email": "desk@example.org"}],
                "cost_options": [{"option": "session", "amount": 0, "currency": "XOF"}],
                "attributes": [{"taxonomy_term_id": term_psy}],
                "capacity": {"open_slots": 3, "waiting_time_days": 10},
                "service_at_locations": [{"id": site, "location_id": loc, "description": "Mondays"}],
            },
            {
                "id": mentoring,
                "organization_id": org,
                "name": f"Peer mentoring {agency}",
                "referral_type": "mentoring",
                "languages": [{"code": "ar"}],
                "attributes": [{"taxonomy_term_id": term_mentor}],
                "mentors": [
                    {
                        "id": str(uuid.uuid4()),
                        "languages": ["ar", "fr"],
                        "origin": "SD",
                        "gender": "woman",
                        "area": "Dakar",
                        "active_mentees": 1,
                        "max_mentees": 3,
                    },
                    {
                        "id": str(uuid.uuid4()),
                        "languages": ["ar"],
                        "origin": "SY",
                        "gender": "man",
                        "area": "Thies",
                        "active_mentees": 2,
                        "max_mentees": 2,
                    },
                ],
            },
        ],
    }


async def test_an_hsds_import_round_trips_through_the_read_api(
    referrals: httpx.AsyncClient, person: Any
) -> None:
    agency = new_agency("harbour")
    dataset = hsds_dataset(agency)
    admin = person(agency, "agency_admin")
    coordinator = person("coordination", "coordinator")
    imported = await coordinator.post("/v1/hsds/import", json=dataset)
    assert imported.status_code == 200, imported.text
    assert imported.json()["services"] == 2

    svc = dataset["services"][0]
    read = (await admin.get(f"/v1/hsds/services/{svc['id']}")).json()
    for key in (
        "name",
        "description",
        "status",
        "eligibility_description",
        "minimum_age",
        "fees_description",
        "referral_type",
    ):
        assert read[key] == svc[key], key
    assert read["organization"]["id"] == dataset["organizations"][0]["id"]
    assert read["organization"]["agency_id"] == agency
    assert [lang["code"] for lang in read["languages"]] == ["fr", "wo"]
    assert read["schedules"][0]["byday"] == "MO,WE"
    assert read["schedules"][0]["opens_at"] == "09:00"
    assert read["service_areas"][0]["code"] == "SN-DK"
    assert read["attributes"][0]["taxonomy_term"]["code"] == "psychosocial"
    assert read["capacity"]["open_slots"] == 3
    assert read["capacity"]["waiting_time_days"] == 10
    site = read["service_at_locations"][0]
    assert site["location"]["addresses"][0]["city"] == "Pikine"
    assert site["location"]["latitude"] == 14.75

    # What the read API returns imports back unchanged (the nested HSDS shape).
    again = await coordinator.post("/v1/hsds/import", json={"services": [read]})
    assert again.status_code == 200, again.text
    reread = (await admin.get(f"/v1/hsds/services/{svc['id']}")).json()
    volatile = {"updated_at"}

    def strip(body: dict[str, Any]) -> dict[str, Any]:
        nested = {"organization", "service_at_locations", "capacity"}
        return {k: v for k, v in body.items() if k not in volatile | nested}

    assert strip(reread) == strip(read)
    assert reread["service_at_locations"][0]["id"] == site["id"]


async def test_mentoring_programmes_count_their_mentors_as_capacity(
    referrals: httpx.AsyncClient, person: Any
) -> None:
    agency = new_agency("mentors")
    dataset = hsds_dataset(agency)
    assert (
        await person("coordination", "coordinator").post("/v1/hsds/import", json=dataset)
    ).status_code == 200
    read = (await person(agency).get(f"/v1/hsds/services/{dataset['services'][1]['id']}")).json()
    assert read["capacity"]["open_slots"] == 2  # 3-1 + 2-2
    assert {m["origin"] for m in read["mentors"]} == {"SD", "SY"}
    assert read["mentors"][0]["languages"] == ["ar", "fr"]


async def test_search_filters_combine_and_page_as_hsds_describes(
    referrals: httpx.AsyncClient, person: Any
) -> None:
    agency = new_agency("search")
    dataset = hsds_dataset(agency)
    assert (
        await person("coordination", "coordinator").post("/v1/hsds/import", json=dataset)
    ).status_code == 200
    reader = person(agency)
    term = dataset["taxonomy_terms"][0]["id"]
    by_text = (await reader.get("/v1/hsds/services", params={"search": f"counselling {agency}"})).json()
    assert [s["id"] for s in by_text["contents"]] == [dataset["services"][0]["id"]]
    assert by_text["total_items"] == 1
    assert by_text["first_page"]
    assert by_text["last_page"]
    both = await reader.get(
        "/v1/hsds/services", params={"taxonomy_term_id": term, "language": "wo", "area": "sn-dk"}
    )
    assert [s["id"] for s in both.json()["contents"]] == [dataset["services"][0]["id"]]
    none = await reader.get("/v1/hsds/services", params={"taxonomy_term_id": term, "language": "ar"})
    assert none.json()["empty"]
    assert none.json()["total_items"] == 0
    org = dataset["organizations"][0]["id"]
    first = (await reader.get("/v1/hsds/services", params={"organization_id": org, "per_page": 1})).json()
    second = (
        await reader.get("/v1/hsds/services", params={"organization_id": org, "per_page": 1, "page": 2})
    ).json()
    assert first["total_items"] == 2
    assert first["total_pages"] == 2
    assert not first["last_page"]
    assert second["last_page"]
    assert second["page_number"] == 2
    assert {first["contents"][0]["id"], second["contents"][0]["id"]} == {s["id"] for s in dataset["services"]}
    terms = (await reader.get("/v1/hsds/taxonomy_terms", params={"parent_id": term})).json()
    assert [t["code"] for t in terms["contents"]] == ["mentoring"]


async def test_invalid_records_are_named_by_record_and_field_and_nothing_is_imported(
    referrals: httpx.AsyncClient, person: Any
) -> None:
    agency = new_agency("invalid")
    dataset = hsds_dataset(agency)
    dataset["services"][0]["languages"][0]["code"] = "not a code"
    dataset["services"][1]["organization_id"] = str(uuid.uuid4())
    response = await person("coordination", "coordinator").post("/v1/hsds/import", json=dataset)
    assert response.status_code == 422
    errors = response.json()["errors"]
    fields = {e["field"]: e for e in errors}
    assert "services[0].languages.0.code" in fields
    assert fields["services[0].languages.0.code"]["record"] == dataset["services"][0]["id"]
    assert "services[1].organization_id" in fields
    missing = await person(agency).get(f"/v1/hsds/organizations/{dataset['organizations'][0]['id']}")
    assert missing.status_code == 404


async def test_an_agency_admin_imports_only_what_their_agency_manages(
    referrals: httpx.AsyncClient, person: Any
) -> None:
    owner, other = new_agency("owner"), new_agency("other")
    dataset = hsds_dataset(owner)
    del dataset["taxonomies"], dataset["taxonomy_terms"]
    for service in dataset["services"]:
        service["attributes"] = []
    assert (await person(owner, "agency_admin").post("/v1/hsds/import", json=dataset)).status_code == 200
    dataset["organizations"][0]["agency_id"] = other
    refused = await person(other, "agency_admin").post("/v1/hsds/import", json=dataset)
    assert refused.status_code == 403
    assert any(e["field"] == "organizations[0].id" for e in refused.json()["errors"])
    assert (await person(other, "case_worker").post("/v1/hsds/import", json=dataset)).status_code == 403


async def test_an_import_announces_directory_changes(
    referrals: httpx.AsyncClient, person: Any, nc: NATS
) -> None:
    dataset = hsds_dataset(new_agency("events"))
    assert (
        await person("coordination", "coordinator").post("/v1/hsds/import", json=dataset)
    ).status_code == 200
    wanted = {s["id"] for s in dataset["services"]}
    js = nc.jetstream()
    sub = await js.subscribe("referrals.directory.changed", stream="REFERRALS", ordered_consumer=True)

    async def seen() -> bool:
        try:
            while True:
                message = await sub.next_msg(timeout=0.5)
                body = json.loads(message.data)
                if body["entity"] == "service" and wanted <= set(body["ids"]):
                    return True
        except TimeoutError:
            return False

    assert await eventually(seen, timeout=15)
    await sub.unsubscribe()


async def test_the_cli_imports_a_dataset_file(
    referrals: httpx.AsyncClient, person: Any, settings: Settings, tmp_path: Any
) -> None:
    dataset = hsds_dataset(new_agency("cli"))
    path = tmp_path / "directory.json"
    path.write_text(json.dumps(dataset))
    env = component_env(settings)
    done = subprocess.run(
        [sys.executable, "-m", "passage", "directory", "import", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=os.getcwd(),
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["services"] == 2
    read = await person("anyone").get(f"/v1/hsds/services/{dataset['services'][0]['id']}")
    assert read.status_code == 200
    assert read.json()["name"] == dataset["services"][0]["name"]

    dataset["services"][0]["minimum_age"] = -3
    path.write_text(json.dumps(dataset))
    bad = subprocess.run(
        [sys.executable, "-m", "passage", "directory", "import", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1
    assert "services[0].minimum_age" in bad.stderr
