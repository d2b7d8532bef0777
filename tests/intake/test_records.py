"""Idempotent registration, duplicates and merge, the change feed, retention, export, statistics."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from typing import Any

import asyncpg
import pytest
from nats.aio.client import Client as NATS

from tests.intake.conftest import published, unique_name


async def test_an_idempotent_retry_creates_one_record(caller: Any, db: asyncpg.Connection) -> None:
    worker = caller()
    family = unique_name()
    body = {"given_name": "Ousmane", "family_name": family, "birth_year": 1988, "sex": "male"}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    answers = await asyncio.gather(*[worker.post("/v1/clients", json=body, headers=key) for _ in range(3)])
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 1
    assert await db.fetchval("SELECT count(*) FROM intake.clients WHERE family_name = $1", family) == 1
    other = await worker.post("/v1/clients", json={**body, "birth_year": 1989}, headers=key)
    assert other.status_code == 422


async def test_a_likely_duplicate_is_flagged_and_can_be_merged(caller: Any, nc: NATS) -> None:
    agency = f"agency-dup-{uuid.uuid4().hex[:6]}"
    worker = caller(agency)
    family = unique_name()
    first = await worker.register(
        given_name="Mariama", family_name=family, birth_year=1990, sex="female", phone="+221 70 000 00 01"
    )
    await worker.post(
        f"/v1/clients/{first['id']}/consents",
        json={"purposes": ["referral"], "categories": ["identity"], "obtained_by": "verbal"},
    )
    second = await worker.register(given_name="Mariamma", family_name=family, birth_year=1991, sex="female")
    assert [d["id"] for d in second["duplicate_warning"]] == [first["id"]]
    assert second["possible_duplicates"] == [first["id"]]
    elsewhere = await caller("agency-other-dup").register(
        given_name="Mariama", family_name=family, birth_year=1990
    )
    assert elsewhere["duplicate_warning"] == []  # only within the agency
    different = await worker.register(given_name="Mariama", family_name=family, birth_year=1970)
    assert different["duplicate_warning"] == []  # birth year too far

    assert (
        await worker.post(f"/v1/clients/{second['id']}/merge", json={"duplicate_id": first["id"]})
    ).status_code == 403
    lead = caller(agency, roles=("supervisor",))
    merged = await lead.post(f"/v1/clients/{second['id']}/merge", json={"duplicate_id": first["id"]})
    assert merged.status_code == 200, merged.text
    kept = merged.json()
    assert kept["phone"] == "+221 70 000 00 01"
    assert kept["possible_duplicates"] == []
    assert f"Mariama {family}" in kept["other_names"]
    folded = (await lead.get(f"/v1/clients/{first['id']}")).json()
    assert folded["merged_into"] == second["id"]
    assert folded["closure_reason"] == "duplicate_merged"
    consents = (await lead.get(f"/v1/clients/{second['id']}/consents")).json()["items"]
    assert len(consents) == 1  # the history moved with the merge
    event = await published(nc, "intake.client.merged", client_id=second["id"])
    assert event["merged_client_id"] == first["id"]


async def test_a_dismissed_warning_confirms_a_new_record(caller: Any) -> None:
    worker = caller()
    family = unique_name()
    await worker.register(given_name="Ibrahima", family_name=family)
    second = await worker.register(given_name="Ibrahima", family_name=family)
    assert second["possible_duplicates"]
    confirmed = await worker.post(f"/v1/clients/{second['id']}/duplicates/dismiss")
    assert confirmed.status_code == 200
    assert confirmed.json()["possible_duplicates"] == []


async def test_retention_anonymises_a_closed_file_and_keeps_statistics_fields(
    caller: Any, nc: NATS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASSAGE_INTAKE_RETENTION_DAYS", "0")
    agency = f"agency-ret-{uuid.uuid4().hex[:6]}"
    worker = caller(agency, roles=("case_worker", "supervisor"))
    client = await worker.register(
        phone="+221 70 000 00 09",
        gender="woman",
        area={"admin1": "Thiès", "admin2": "Mbour"},
        vulnerabilities=["disability"],
    )
    await worker.post(
        f"/v1/clients/{client['id']}/followups",
        json={"held_on": str(date.today()), "channel": "phone", "points_seen": ["needs"], "notes": "private"},
    )
    await worker.post(
        f"/v1/clients/{client['id']}/close", json={"reason": "plan_completed", "final_note": "All good"}
    )
    await published(nc, "intake.client.anonymised", client_id=client["id"])
    after = (await worker.get(f"/v1/clients/{client['id']}")).json()
    assert after["status"] == "anonymised"
    assert after["given_name"] is None
    assert after["family_name"] is None
    assert after["phone"] is None
    assert after["closure_note"] is None
    assert (
        after["birth_year"],
        after["sex"],
        after["gender"],
        after["area"]["admin1"],
        after["vulnerabilities"],
    ) == (1990, "female", "woman", "Thiès", ["disability"])
    assert after["area"]["admin2"] is None
    followups = (await worker.get(f"/v1/clients/{client['id']}/followups")).json()["items"]
    assert followups[0]["notes"] is None
    assert followups[0]["points_seen"] == ["needs"]


async def test_subject_access_export_holds_everything_on_one_client(caller: Any) -> None:
    agency = f"agency-sar-{uuid.uuid4().hex[:6]}"
    worker = caller(agency)
    client = await worker.register(phone="+221 70 000 00 02")
    await worker.post(
        f"/v1/clients/{client['id']}/consents",
        json={"purposes": ["referral"], "categories": ["identity"], "obtained_by": "verbal"},
    )
    await worker.post(
        f"/v1/clients/{client['id']}/assessments", json={"kind": "needs", "answers": {"housing": "high"}}
    )
    assert (await worker.get(f"/v1/clients/{client['id']}/export")).status_code == 403
    dpo = caller(agency, roles=("data_protection_officer",))
    export = (await dpo.get(f"/v1/clients/{client['id']}/export")).json()
    assert export["client"]["phone"] == "+221 70 000 00 02"
    assert len(export["consents"]) == 1
    assert export["assessments"][0]["answers"] == {"housing": "high"}
    assert [h["action"] for h in export["history"]] == ["registered", "granted", "submitted"]


async def test_statistics_count_by_dimension_for_the_service_role_only(caller: Any) -> None:
    agency = f"agency-stats-{uuid.uuid4().hex[:6]}"
    worker = caller(agency)
    area = f"Area-{uuid.uuid4().hex[:6]}"
    year = date.today().year
    await worker.register(
        area={"admin1": area}, gender="woman", birth_year=year - 20, vulnerabilities=["gbv_survivor"]
    )
    await worker.register(area={"admin1": area}, gender="woman", birth_year=year - 21)
    await worker.register(area={"admin1": area}, gender="man", birth_year=year - 40)
    assert (await worker.get("/v1/statistics/clients")).status_code == 403
    service = caller("passage", roles=("service",))
    body = (await service.get("/v1/statistics/clients", params={"group_by": "area,gender,age_band"})).json()
    mine = [c for c in body["cells"] if c["area"] == area]
    assert sorted((c["gender"], c["age_band"], c["count"]) for c in mine) == [
        ("man", "35-49", 1),
        ("woman", "18-24", 2),
    ]
    vuln = (await service.get("/v1/statistics/clients", params={"group_by": "area,vulnerability"})).json()
    assert sorted((c["vulnerability"], c["count"]) for c in vuln["cells"] if c["area"] == area) == [
        ("gbv_survivor", 1),
        ("none", 2),
    ]
    bad = await service.get("/v1/statistics/clients", params={"group_by": "shoe_size"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "query.group_by"


async def test_a_shared_phone_or_document_number_flags_a_likely_duplicate(caller: Any) -> None:
    worker = caller(f"agency-dupkeys-{uuid.uuid4().hex[:6]}")
    digits = f"{uuid.uuid4().int % 10**7:07d}"
    first = await worker.register(
        given_name="Awa",
        family_name=unique_name(),
        birth_year=1985,
        sex="female",
        phone=f"+221 77 {digits[:3]} {digits[3:5]} {digits[5:]}",
        identity_documents=[{"kind": "passport", "number": f"AB-{digits}"}],
    )
    same_phone = await worker.register(  # national format, another spelling of the name
        given_name="Khadija", family_name=unique_name(), birth_year=1986, sex="female", phone=f"77{digits}"
    )
    assert [(d["id"], d["matched_on"]) for d in same_phone["duplicate_warning"]] == [(first["id"], ["phone"])]
    same_document = await worker.register(  # the number re-typed under another kind, no birth data
        given_name="Someone",
        family_name=unique_name(),
        identity_documents=[{"kind": "other", "number": f"ab {digits}"}],
    )
    assert [(d["id"], d["matched_on"]) for d in same_document["duplicate_warning"]] == [
        (first["id"], ["identity_document"])
    ]
    relative = await worker.register(  # a family phone, but clearly another person
        given_name="Moussa", family_name=unique_name(), birth_year=1950, sex="male", phone=f"77{digits}"
    )
    assert relative["duplicate_warning"] == []
    elsewhere = await caller().register(identity_documents=[{"kind": "passport", "number": f"AB{digits}"}])
    assert elsewhere["duplicate_warning"] == []  # only within the agency
