"""The calculator's REST contract, and scores, triage and schedules from intake's events."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from nats.aio.client import Client as NATS

from passage.contracts.intake import AssessmentSubmitted, CasePlanChanged, ClientRegistered
from passage.settings import Settings
from services.scoring.followups import add_months
from tests.conftest import TokenFactory, bearer
from tests.scoring.helpers import WORKED_EXAMPLE, Collector, extreme_answers, publish, publish_again
from tests.support import eventually, running


@pytest.fixture(scope="module")
async def scoring(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running("scoring", settings) as (_, client):
        yield client


@pytest.fixture
async def collector(nc: NATS, settings: Settings) -> Collector:
    c = Collector()
    await c.start(nc, settings)
    return c


async def test_the_instrument_lists_options_with_points_and_no_derived_question(
    scoring: httpx.AsyncClient, token: TokenFactory
) -> None:
    body = (await scoring.get("/v1/rss/instrument", headers=bearer(token(roles=("coordinator",))))).json()
    indicators = {i["key"]: i for i in body["indicators"]}
    assert "access_public_services" not in indicators
    assert body["derived"][0]["key"] == "access_public_services"
    options = {o["code"]: o["points"] for o in indicators["economic_satisfaction"]["options"]}
    assert options == {
        "very_satisfied": 1.0,
        "satisfied": 0.75,
        "ok": 0.5,
        "dissatisfied": 0.25,
        "very_dissatisfied": 0.0,
        "dont_know": 0.5,
        "refused": 0.5,
    }
    assert {"code": "no_debts", "points": 1.0} in [
        {"code": o["code"], "points": o["points"]} for o in indicators["debt_to_spending"]["options"]
    ]
    assert indicators["children_in_school"]["options"][-1]["code"] == "not_applicable"
    assert {o["code"] for o in indicators["need_to_remigrate"]["options"]} >= {"no", "yes"}
    assert indicators["remigration_reason"]["required"] is False
    assert indicators["remigration_reason"]["asked_when"] == {"need_to_remigrate": "yes"}


async def test_scoring_the_worked_example_over_http(scoring: httpx.AsyncClient, token: TokenFactory) -> None:
    response = await scoring.post("/v1/rss/score", json={"answers": WORKED_EXAMPLE}, headers=bearer(token()))
    assert response.status_code == 200, response.text
    body = response.json()
    expected = {"economic": 0.635, "social": 0.745, "psychosocial": 0.2625, "composite": 0.515}
    assert all(abs(body["scores"][k] - v) < 1e-9 for k, v in expected.items())
    assert body["bands"] == {
        "economic": "standard",
        "social": "light",
        "psychosocial": "intensified",
        "composite": "standard",
    }
    assert body["dont_know_count"] == 0
    assert body["low_accuracy"] is False
    lines = {line["key"]: line for line in body["explanation"]}
    assert len(lines) == 29
    assert lines["access_public_services"]["points"] == 0.875
    assert abs(lines["food_security"]["composite_contribution"] - 0.02) < 1e-12


async def test_an_invalid_answer_set_is_refused_naming_the_keys(
    scoring: httpx.AsyncClient, token: TokenFactory
) -> None:
    answers = {k: v for k, v in WORKED_EXAMPLE.items() if k != "food_security"}
    answers |= {"shoe_size": "42", "currently_working": "sometimes"}
    response = await scoring.post("/v1/rss/score", json={"answers": answers}, headers=bearer(token()))
    assert response.status_code == 422
    errors = {(e["field"], e["code"]) for e in response.json()["errors"]}
    assert errors == {
        ("answers.shoe_size", "unknown_indicator"),
        ("answers.currently_working", "unknown_option"),
        ("answers.food_security", "missing_answer"),
    }
    unauthenticated = await scoring.post("/v1/rss/score", json={"answers": WORKED_EXAMPLE})
    assert unauthenticated.status_code == 401


def _rss(client_id: uuid.UUID, agency: str, answers: dict[str, str], at: datetime) -> AssessmentSubmitted:
    return AssessmentSubmitted(
        assessment_id=uuid.uuid4(),
        client_id=client_id,
        agency_id=agency,
        kind="rss",
        instrument_version="iom-rss-2018",
        submitted_by="cw-1",
        submitted_at=at,
        answers=answers,
    )


async def test_rss_assessments_are_scored_stored_and_band_changes_told_once(
    scoring: httpx.AsyncClient, token: TokenFactory, nc: NATS, settings: Settings, collector: Collector
) -> None:
    client_id, agency = uuid.uuid4(), f"agency-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC)
    await publish(
        nc,
        settings,
        ClientRegistered(client_id=client_id, agency_id=agency, registered_by="cw-1"),
        source="intake",
    )
    first = await publish(
        nc, settings, _rss(client_id, agency, WORKED_EXAMPLE, now - timedelta(days=90)), source="intake"
    )
    computed = await collector.wait_for("scoring.score.computed", client_id=client_id)
    assert "answers" not in computed[0]
    assert abs(computed[0]["scores"]["composite"] - 0.515) < 1e-9
    await publish(nc, settings, _rss(client_id, agency, extreme_answers(best=True), now), source="intake")
    changed = await collector.wait_for("scoring.band.changed", client_id=client_id)
    assert {(c["dimension"], c["previous"], c["current"]) for c in changed[0]["changes"]} == {
        ("economic", "standard", "light"),
        ("psychosocial", "intensified", "light"),
        ("composite", "standard", "light"),
    }
    # a redelivered assessment is not scored twice
    await publish_again(nc, settings, first)
    headers = bearer(token(agency=agency))

    async def two_scores() -> list[dict[str, Any]] | None:
        items = (await scoring.get(f"/v1/clients/{client_id}/scores", headers=headers)).json()["items"]
        return items if len(items) == 2 else None

    items = await eventually(two_scores)
    assert [i["bands"]["composite"] for i in items] == ["standard", "light"]
    assert items[0]["instrument_version"] == "iom-rss-2018"
    await collector.wait_for("scoring.triage.changed", client_id=client_id, intensity="light")
    assert len(collector.of("scoring.score.computed", client_id=client_id)) == 2
    # another agency sees nothing; a Passage component reads across agencies
    other = await scoring.get(f"/v1/clients/{client_id}/scores", headers=bearer(token(agency="agency-other")))
    assert other.status_code == 404
    service = await scoring.get(
        f"/v1/clients/{client_id}/scores", headers=bearer(token(agency="passage", roles=("service",)))
    )
    assert len(service.json()["items"]) == 2


async def test_a_victim_of_trafficking_gets_the_handbooks_schedule(
    scoring: httpx.AsyncClient, token: TokenFactory, nc: NATS, settings: Settings, collector: Collector
) -> None:
    client_id, agency = uuid.uuid4(), f"agency-{uuid.uuid4().hex[:6]}"
    start = date.today() + timedelta(days=10)
    await publish(
        nc,
        settings,
        AssessmentSubmitted(
            assessment_id=uuid.uuid4(),
            client_id=client_id,
            agency_id=agency,
            kind="vulnerability",
            instrument_version="v1",
            submitted_by="cw-1",
            submitted_at=datetime.now(UTC),
            protection_flags=["victim_of_trafficking", "serious_medical_condition"],
        ),
        source="intake",
    )
    triage = await collector.wait_for("scoring.triage.changed", client_id=client_id)
    assert (triage[0]["intensity"], triage[0]["rule"], triage[0]["previous_intensity"]) == (
        "intensive",
        "victim_of_trafficking",
        None,
    )
    plan_id = uuid.uuid4()
    await publish(
        nc,
        settings,
        CasePlanChanged(
            plan_id=plan_id,
            client_id=client_id,
            agency_id=agency,
            status="active",
            start_date=start,
            case_worker="cw-1",
        ),
        source="intake",
    )
    headers = bearer(token(agency=agency))

    async def schedule() -> dict[str, Any] | None:
        body = (await scoring.get(f"/v1/clients/{client_id}/schedule", headers=headers)).json()
        return body if body.get("items") else None

    body = await eventually(schedule)
    follow_ups = [i for i in body["items"] if i["kind"] == "follow_up"]
    months = [i["month"] for i in follow_ups]
    # monthly for the first three months, twice between months 3 and 9, once in month 12
    assert [m for m in months if m <= 3] == [1, 2, 3]
    assert len([m for m in months if 3 < m <= 9]) == 2
    assert [m for m in months if 9 < m <= 12] == [12]
    assert max(months) == 12  # assistance not extended: nothing past month 12
    assert [i["due_on"] for i in follow_ups] == [add_months(start, m).isoformat() for m in months]
    kinds = {(i["kind"], i["month"]) for i in body["items"]}
    assert ("mid_term_monitoring", 6) in kinds
    assert ("final_monitoring", 18) in kinds
    assert [i["month"] for i in body["items"] if i["kind"] == "rss"] == [3, 6, 9, 12, 15, 18]
    assert body["triage"]["rule"] == "victim_of_trafficking"

    # assistance extended: monitoring goes on past month 12
    await publish(
        nc,
        settings,
        CasePlanChanged(
            plan_id=plan_id,
            client_id=client_id,
            agency_id=agency,
            status="active",
            start_date=start,
            case_worker="cw-1",
            assistance_extended=True,
        ),
        source="intake",
    )

    async def extended() -> list[int] | None:
        items = (await scoring.get(f"/v1/clients/{client_id}/schedule", headers=headers)).json()["items"]
        later = [i["month"] for i in items if i["kind"] == "follow_up" and i["month"] > 12]
        return later or None

    assert await eventually(extended) == [15, 18, 21, 24]


async def test_a_past_due_item_falls_due_and_is_announced(
    scoring: httpx.AsyncClient, token: TokenFactory, nc: NATS, settings: Settings, collector: Collector
) -> None:
    client_id, agency = uuid.uuid4(), f"agency-{uuid.uuid4().hex[:6]}"
    start = add_months(date.today(), -1)  # the month-1 follow-up is due today
    await publish(
        nc,
        settings,
        CasePlanChanged(
            plan_id=uuid.uuid4(),
            client_id=client_id,
            agency_id=agency,
            status="active",
            start_date=start,
            case_worker="cw-9",
        ),
        source="intake",
    )
    due = await collector.wait_for("scoring.followup.due", client_id=client_id)
    assert (due[0]["kind"], due[0]["case_worker"], due[0]["due_on"]) == (
        "follow_up",
        "cw-9",
        date.today().isoformat(),
    )
    items = (
        await scoring.get(f"/v1/clients/{client_id}/schedule", headers=bearer(token(agency=agency)))
    ).json()
    statuses = {(i["kind"], i["month"]): i["status"] for i in items["items"]}
    assert statuses[("follow_up", 1)] == "due"
    assert statuses[("follow_up", 3)] == "pending"
