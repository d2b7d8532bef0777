"""Case work on an open file: assessments, households, the case plan, follow-ups, closure."""

from __future__ import annotations

from datetime import date
from typing import Any

from nats.aio.client import Client as NATS

from passage.contracts import rss
from tests.intake.conftest import published


def rss_answers(code: str = "dont_know") -> dict[str, str]:
    return {key: code for key, indicator in rss.INDICATORS.items() if indicator.asked_when is None}


async def test_an_rss_answer_set_is_validated_and_its_codes_published(caller: Any, nc: NATS) -> None:
    worker = caller()
    client = await worker.register()
    url = f"/v1/clients/{client['id']}/assessments"
    answers = rss_answers()
    first_key = next(iter(answers))
    bad = await worker.post(url, json={"kind": "rss", "answers": {**answers, first_key: "maybe"}})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == f"body.answers.{first_key}"
    missing = await worker.post(url, json={"kind": "rss", "answers": {first_key: "refused"}})
    assert missing.status_code == 422
    assert len(missing.json()["errors"]) == len(answers) - 1
    ok = await worker.post(url, json={"kind": "rss", "answers": {**answers, first_key: "refused"}})
    assert ok.status_code == 201, ok.text
    event = await published(nc, "intake.assessment.submitted", assessment_id=ok.json()["id"])
    assert event["kind"] == "rss"
    assert event["answers"][first_key] == "refused"
    assert event["instrument_version"] == rss.INSTRUMENT_VERSION


async def test_a_vulnerability_assessment_flags_protection_and_marks_the_case_sensitive(
    caller: Any, nc: NATS
) -> None:
    worker = caller()
    client = await worker.register()
    url = f"/v1/clients/{client['id']}/assessments"
    unknown = await worker.post(url, json={"kind": "vulnerability", "answers": {"cursed": True}})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "body.answers.cursed"
    done = await worker.post(
        url, json={"kind": "vulnerability", "answers": {"victim_of_trafficking": True, "disability": False}}
    )
    assert done.status_code == 201, done.text
    assert done.json()["protection_flags"] == ["victim_of_trafficking"]
    event = await published(nc, "intake.assessment.submitted", assessment_id=done.json()["id"])
    assert event["protection_flags"] == ["victim_of_trafficking"]
    assert event["answers"] is None
    after = (await worker.get(f"/v1/clients/{client['id']}")).json()
    assert after["sensitive"] is True
    assert "victim_of_trafficking" in after["vulnerabilities"]
    needs = await worker.post(url, json={"kind": "needs", "answers": {"employment": "high"}})
    assert needs.status_code == 201
    listed = (await worker.get(url, params={"kind": "needs"})).json()["items"]
    assert [a["answers"] for a in listed] == [{"employment": "high"}]


async def test_a_household_links_members_to_the_head_of_case(caller: Any) -> None:
    agency = "agency-household"
    worker = caller(agency)
    head, child, spouse = [await worker.register() for _ in range(3)]
    made = await worker.post(
        "/v1/households",
        json={
            "head_client_id": head["id"],
            "members": [{"client_id": child["id"], "relationship": "child", "dependant": True}],
        },
    )
    assert made.status_code == 201, made.text
    household = made.json()
    added = await worker.post(
        f"/v1/households/{household['id']}/members",
        json={"client_id": spouse["id"], "relationship": "spouse"},
    )
    assert added.status_code == 200
    of_child = (await worker.get(f"/v1/clients/{child['id']}/household")).json()
    assert of_child["head_client_id"] == head["id"]
    assert {(m["client_id"], m["relationship"], m["dependant"]) for m in of_child["members"]} == {
        (child["id"], "child", True),
        (spouse["id"], "spouse", False),
    }
    twice = await worker.post(
        f"/v1/households/{household['id']}/members", json={"client_id": child["id"], "relationship": "child"}
    )
    assert twice.status_code == 409
    stranger = await caller("agency-elsewhere").register()
    foreign = await worker.post(
        f"/v1/households/{household['id']}/members",
        json={"client_id": stranger["id"], "relationship": "other_relative"},
    )
    assert foreign.status_code == 404


async def test_the_case_plan_names_the_responsible_worker_and_is_reviewed(caller: Any, nc: NATS) -> None:
    worker = caller()
    client = await worker.register()
    created = await worker.post(
        f"/v1/clients/{client['id']}/plans",
        json={
            "status": "active",
            "start_date": "2026-01-15",
            "case_worker": "worker-amadou",
            "goals": [{"description": "Open a tailoring workshop", "dimension": "economic"}],
            "planned_services": [{"service": "skills_training"}],
        },
    )
    assert created.status_code == 201, created.text
    plan = created.json()
    event = await published(nc, "intake.caseplan.changed", plan_id=plan["id"])
    assert event["case_worker"] == "worker-amadou"
    assert event["start_date"] == "2026-01-15"
    assert (await worker.get(f"/v1/clients/{client['id']}")).json()["case_worker"] == "worker-amadou"
    url = f"/v1/plans/{plan['id']}"
    stale = await worker.patch(url, json={"assistance_extended": True}, headers={"If-Match": '"0"'})
    assert stale.status_code == 412
    changed = await worker.patch(
        url, json={"assistance_extended": True}, headers={"If-Match": created.headers["etag"]}
    )
    assert changed.status_code == 200
    assert changed.json()["assistance_extended"] is True
    reviewed = await worker.post(
        f"{url}/reviews",
        json={"reviewed_on": str(date.today()), "outcome": "completed", "notes": "Workshop open"},
    )
    assert reviewed.status_code == 201
    assert reviewed.json()["status"] == "completed"
    assert reviewed.json()["reviews"][0]["outcome"] == "completed"


async def test_a_follow_up_records_the_points_seen(caller: Any, nc: NATS) -> None:
    worker = caller()
    client = await worker.register()
    url = f"/v1/clients/{client['id']}/followups"
    future = await worker.post(
        url, json={"held_on": "2999-01-01", "channel": "phone", "points_seen": ["needs"]}
    )
    assert future.status_code == 422
    made = await worker.post(
        url,
        json={
            "held_on": str(date.today()),
            "channel": "home_visit",
            "points_seen": ["wellbeing", "workplace"],
            "notes": "Doing well",
        },
    )
    assert made.status_code == 201, made.text
    event = await published(nc, "intake.followup.recorded", followup_id=made.json()["id"])
    assert event["points_seen"] == ["wellbeing", "workplace"]
    assert "notes" not in event
    assert [f["id"] for f in (await worker.get(url)).json()["items"]] == [made.json()["id"]]


async def test_closure_takes_a_handbook_reason_and_reopen_brings_the_file_back(caller: Any, nc: NATS) -> None:
    worker = caller()
    client = await worker.register()
    url = f"/v1/clients/{client['id']}"
    assert (await worker.post(f"{url}/close", json={"reason": "tired"})).status_code == 422
    closed = await worker.post(f"{url}/close", json={"reason": "re_migrated", "final_note": "Left for Spain"})
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed"
    assert closed.json()["closure_reason"] == "re_migrated"
    event = await published(nc, "intake.client.closed", client_id=client["id"])
    assert event["closure_reason"] == "re_migrated"
    blocked = await worker.post(
        f"{url}/followups", json={"held_on": str(date.today()), "channel": "phone", "points_seen": ["needs"]}
    )
    assert blocked.status_code == 409
    reopened = await worker.post(f"{url}/reopen", json={"reason": "Came back"})
    assert reopened.status_code == 200
    assert reopened.json()["status"] == "open"
    await published(nc, "intake.client.reopened", client_id=client["id"])
