"""Ranking directory services and peer mentors over scoring's projection of the HSDS directory."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from passage.settings import Settings
from services.scoring.directory import project_service
from services.scoring.matching import rank_mentors, rank_services
from services.scoring.models import DirectoryService
from services.scoring.schemas import MentorMatchRequest, ServiceMatchRequest
from tests.conftest import TokenFactory, bearer
from tests.support import running


def hsds(service_id: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": service_id,
        "name": f"Service {service_id}",
        "status": "active",
        "organization": {"id": "org-1", "name": "Harbour Aid"},
        "languages": [{"code": "fr"}],
        "service_areas": [{"name": "Dakar"}],
        "attributes": [{"taxonomy_term": {"id": "t-1", "code": "housing", "name": "Housing"}}],
        "capacity": {"open_slots": 3, "waiting_time_days": 0, "updated_at": "2026-01-01T00:00:00Z"},
    }
    body.update(extra)
    return body


def listing(service_id: str, **extra: Any) -> DirectoryService:
    return DirectoryService(**project_service(hsds(service_id, **extra)))


def test_a_full_hsds_service_is_flattened_into_the_projection() -> None:
    body = hsds(
        "svc-1",
        service_at_locations=[{"location": {"addresses": [{"city": "Pikine", "state_province": "Dakar"}]}}],
        eligibility={"minimum_age": 18, "genders": ["Female"], "attributes": ["victim_of_trafficking"]},
        mentors=[
            {
                "id": "m-1",
                "languages": ["WO"],
                "origin": "SN",
                "gender": "female",
                "area": "dakar",
                "active_mentees": 1,
                "max_mentees": 3,
            }
        ],
    )
    row = project_service(body)
    assert row["organization_id"] == "org-1"
    assert set(row["terms"]) == {"t-1", "housing"}
    assert set(row["areas"]) == {"dakar", "pikine"}
    assert row["languages"] == ["fr"]
    assert row["open_slots"] == 3
    assert row["eligibility"] == {
        "minimum_age": 18,
        "genders": ["female"],
        "attributes": ["victim_of_trafficking"],
    }
    assert row["mentors"][0]["languages"] == ["wo"]


def test_services_rank_by_needs_covered_then_language_area_and_capacity_with_reasons() -> None:
    both = listing(
        "both", attributes=[{"taxonomy_term": {"code": "housing"}}, {"taxonomy_term": {"code": "health"}}]
    )
    housing_only = listing("housing")
    full = listing(
        "full",
        attributes=[{"taxonomy_term": {"code": "housing"}}, {"taxonomy_term": {"code": "health"}}],
        capacity={"open_slots": 0},
    )
    english = listing("english", languages=[{"code": "en"}])
    unrelated = listing("legal", attributes=[{"taxonomy_term": {"code": "legal"}}])
    request = ServiceMatchRequest(needs=["housing", "health"], language="fr-SN", area={"admin1": "dakar"})
    ranked, excluded = rank_services([unrelated, english, housing_only, full, both], request)
    assert [s.service_id for s, _ in ranked] == ["both", "full", "housing", "english"]
    assert excluded == 1
    reasons = {s.service_id: r.reasons for s, r in ranked}
    assert "covers 2 of 2 needs: housing, health" in reasons["both"]
    assert "no open slots" in reasons["full"]
    assert any("interpreter" in r for r in reasons["english"])


def test_ineligible_services_are_left_out() -> None:
    adults = listing("adults", eligibility={"minimum_age": 18})
    women = listing("women", eligibility={"genders": ["female"]})
    survivors = listing("vot", eligibility={"attributes": ["victim_of_trafficking"]})
    request = ServiceMatchRequest(needs=["housing"], age=16, gender="male")
    ranked, excluded = rank_services([adults, women, survivors], request)
    assert ranked == []
    assert excluded == 3
    ranked, _ = rank_services(
        [adults, women, survivors],
        ServiceMatchRequest(age=30, gender="female", attributes=["victim_of_trafficking"]),
    )
    assert {s.service_id for s, _ in ranked} == {"adults", "women", "vot"}


def test_mentors_rank_by_language_origin_area_and_load_and_honour_the_gender_preference() -> None:
    programme = listing(
        "peer",
        mentors=[
            {
                "id": "near",
                "languages": ["wo", "fr"],
                "origin": "SN",
                "gender": "female",
                "area": "dakar",
                "active_mentees": 1,
                "max_mentees": 4,
            },
            {
                "id": "busy",
                "languages": ["wo"],
                "origin": "SN",
                "gender": "female",
                "area": "dakar",
                "active_mentees": 3,
                "max_mentees": 4,
            },
            {
                "id": "full",
                "languages": ["wo"],
                "origin": "SN",
                "gender": "female",
                "area": "dakar",
                "active_mentees": 2,
                "max_mentees": 2,
            },
            {
                "id": "man",
                "languages": ["wo"],
                "origin": "SN",
                "gender": "male",
                "area": "dakar",
                "active_mentees": 0,
                "max_mentees": 4,
            },
            {
                "id": "stranger",
                "languages": ["en"],
                "origin": "GH",
                "gender": "female",
                "area": "thies",
                "active_mentees": 0,
                "max_mentees": 4,
            },
        ],
    )
    request = MentorMatchRequest(
        languages=["wo"], origin="SN", gender="female", gender_preference="same", area={"admin1": "dakar"}
    )
    ranked = rank_mentors([programme], request)
    assert [m["id"] for _, m, _ in ranked] == ["near", "busy", "stranger"]
    assert "shares wo" in ranked[0][2].reasons
    assert "same origin (SN)" in ranked[0][2].reasons
    anyone = rank_mentors([programme], request.model_copy(update={"gender_preference": "any"}))
    assert "man" in [m["id"] for _, m, _ in anyone]
    assert "full" not in [m["id"] for _, m, _ in anyone]


@pytest.fixture(scope="module")
async def scoring(settings: Settings) -> Any:
    async with running("scoring", settings) as (_, client):
        yield client


async def test_matching_endpoints_answer_any_authenticated_role(
    scoring: httpx.AsyncClient, token: TokenFactory
) -> None:
    tok = bearer(token(roles=("partner_system",)))
    services = await scoring.post(
        "/v1/match/services", json={"needs": ["housing"], "language": "fr"}, headers=tok
    )
    assert services.status_code == 200
    assert "items" in services.json()
    mentors = await scoring.post("/v1/match/mentors", json={"languages": ["wo"]}, headers=tok)
    assert mentors.status_code == 200
    assert "items" in mentors.json()
    assert (await scoring.post("/v1/match/services", json={"age": -1}, headers=tok)).status_code == 422
    assert (await scoring.post("/v1/match/services", json={})).status_code == 401
