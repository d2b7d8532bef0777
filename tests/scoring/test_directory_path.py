"""Scoring learns the directory from the real referrals component: an HSDS dataset imported into
referrals is announced by `referrals.directory.changed`; scoring fetches each service over HTTP with
its own service identity, fills its projection, and ranks the imported services and mentors; a
capacity change in referrals re-ranks.

Referrals answers real HTTP on a loopback port (uvicorn in this event loop); scoring runs in-process
with its real lifespan (consumers, relay), its `referrals_url` pointing at that port."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from passage.settings import Settings
from tests.conftest import TokenFactory, bearer
from tests.support import eventually, running, serving

_CHOSEN = {n.strip() for n in os.environ.get("PASSAGE_TEST_COMPONENTS", "").split(",") if n.strip()}
pytestmark = pytest.mark.skipif(
    bool(_CHOSEN) and "referrals" not in _CHOSEN,
    reason="needs the referrals component migrated: PASSAGE_TEST_COMPONENTS=scoring,referrals",
)


@pytest.fixture(scope="module")
async def referrals_url(settings: Settings) -> AsyncIterator[str]:
    async with serving("referrals", settings) as url:
        yield url


@pytest.fixture(scope="module")
async def scoring(settings: Settings, referrals_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with running("scoring", settings.model_copy(update={"referrals_url": referrals_url})) as (
        _,
        client,
    ):
        yield client


@pytest.fixture(scope="module")
async def referrals(referrals_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=referrals_url, timeout=10) as client:
        yield client


@dataclass
class Directory:
    """One imported dataset; codes carry a suffix so other tests' services never compete."""

    tag: str
    agency: str
    housing: str  # a housing service, French, in the area, open slots
    shelter: str  # housing too, English only, full
    clinic: str  # psychosocial, adults only
    mentoring: str  # a peer-mentoring programme with three mentors
    mentors: dict[str, str]

    def code(self, name: str) -> str:
        return f"{name}_{self.tag}"


def dataset(d: Directory) -> dict[str, Any]:
    org, loc = str(uuid.uuid4()), str(uuid.uuid4())
    terms = {name: str(uuid.uuid4()) for name in ("housing", "psychosocial", "mentoring")}

    def attr(name: str) -> dict[str, str]:
        return {"taxonomy_term_id": terms[name]}

    area = {"name": "Dakar region", "code": d.code("dakar")}
    return {
        "taxonomy_terms": [{"id": i, "code": d.code(n), "name": n.title()} for n, i in terms.items()],
        "organizations": [{"id": org, "name": "Harbour Aid", "agency_id": d.agency}],
        "locations": [
            {
                "id": loc,
                "organization_id": org,
                "name": "Pikine office",
                "addresses": [{"address_1": "1 Rue X", "city": d.code("pikine"), "country": "SN"}],
            }
        ],
        "services": [
            {
                "id": d.housing,
                "organization_id": org,
                "name": "Transitional housing",
                "languages": [{"code": "fr"}, {"code": "wo"}],
                "service_areas": [area],
                "attributes": [attr("housing")],
                "capacity": {"open_slots": 4, "waiting_time_days": 0},
                "service_at_locations": [{"id": str(uuid.uuid4()), "location_id": loc}],
            },
            {
                "id": d.shelter,
                "organization_id": org,
                "name": "Night shelter",
                "languages": [{"code": "en"}],
                "service_areas": [area],
                "attributes": [attr("housing")],
                "capacity": {"open_slots": 0},
            },
            {
                "id": d.clinic,
                "organization_id": org,
                "name": "Counselling",
                "languages": [{"code": "fr"}],
                "minimum_age": 18,
                "attributes": [attr("psychosocial")],
                "capacity": {"open_slots": 2, "waiting_time_days": 30},
            },
            {
                "id": d.mentoring,
                "organization_id": org,
                "name": "Returnee peer mentoring",
                "referral_type": "peer_mentoring",
                "languages": [{"code": "wo"}, {"code": "fr"}],
                "attributes": [attr("mentoring")],
                "mentors": [
                    {
                        "id": d.mentors["near"],
                        "languages": ["wo", "fr"],
                        "origin": "SN",
                        "gender": "female",
                        "area": d.code("dakar"),
                        "active_mentees": 1,
                        "max_mentees": 4,
                    },
                    {
                        "id": d.mentors["busy"],
                        "languages": ["wo"],
                        "origin": "SN",
                        "gender": "female",
                        "area": d.code("dakar"),
                        "active_mentees": 3,
                        "max_mentees": 4,
                    },
                    {
                        "id": d.mentors["man"],
                        "languages": ["wo"],
                        "origin": "SN",
                        "gender": "male",
                        "active_mentees": 0,
                        "max_mentees": 2,
                    },
                ],
            },
        ],
    }


@pytest.fixture(scope="module")
async def directory(
    scoring: httpx.AsyncClient, referrals: httpx.AsyncClient, token: TokenFactory
) -> Directory:
    d = Directory(
        tag=uuid.uuid4().hex[:8],
        agency=f"harbour-{uuid.uuid4().hex[:6]}",
        housing=str(uuid.uuid4()),
        shelter=str(uuid.uuid4()),
        clinic=str(uuid.uuid4()),
        mentoring=str(uuid.uuid4()),
        mentors={k: str(uuid.uuid4()) for k in ("near", "busy", "man")},
    )
    # A coordinator imports (the shared taxonomy is theirs); the organization is the agency's.
    response = await referrals.post(
        "/v1/hsds/import", json=dataset(d), headers=bearer(token("network-office", ("coordinator",)))
    )
    assert response.status_code == 200, response.text
    return d


async def _match(scoring: httpx.AsyncClient, token: TokenFactory, path: str, body: dict[str, Any]) -> Any:
    response = await scoring.post(path, json=body, headers=bearer(token("agency-a", ("case_worker",))))
    assert response.status_code == 200, response.text
    return response.json()


async def _services_ranked(
    scoring: httpx.AsyncClient,
    token: TokenFactory,
    d: Directory,
    expected: int,
    language: str | None = "fr-SN",
) -> list[dict[str, Any]]:
    body = {
        "needs": [d.code("housing")],
        "language": language,
        "area": {"admin1": d.code("dakar")},
        "gender": "female",
        "age": 24,
    }

    async def ranked() -> list[dict[str, Any]] | None:
        items = (await _match(scoring, token, "/v1/match/services", body))["items"]
        return items if len(items) == expected else None

    return await eventually(ranked, timeout=20)


async def test_imported_services_reach_scoring_and_rank_with_reasons(
    scoring: httpx.AsyncClient, directory: Directory, token: TokenFactory
) -> None:
    d = directory
    items = await _services_ranked(scoring, token, d, expected=2)
    assert [i["service_id"] for i in items] == [d.housing, d.shelter]
    best = items[0]
    assert best["name"] == "Transitional housing"
    assert best["open_slots"] == 4
    assert best["organization_id"] is not None
    assert f"covers 1 of 1 needs: {d.code('housing')}" in best["reasons"]
    assert "offered in fr-SN" in best["reasons"]
    assert f"serves the client's admin1 ({d.code('dakar')})" in best["reasons"]
    assert "4 open slots, waiting time 0 days" in best["reasons"]
    assert "no open slots" in items[1]["reasons"]
    assert any("interpreter" in r for r in items[1]["reasons"])

    # The location's address counts as an area served; the clinic's age rule is honoured.
    by_city = await _match(
        scoring,
        token,
        "/v1/match/services",
        {"needs": [d.code("housing")], "area": {"admin3": d.code("pikine")}},
    )
    first = by_city["items"][0]
    assert first["service_id"] == d.housing
    assert f"serves the client's admin3 ({d.code('pikine')})" in first["reasons"]
    minor = await _match(scoring, token, "/v1/match/services", {"needs": [d.code("psychosocial")], "age": 16})
    assert minor["items"] == []
    adult = await _match(scoring, token, "/v1/match/services", {"needs": [d.code("psychosocial")], "age": 30})
    assert [i["service_id"] for i in adult["items"]] == [d.clinic]


async def test_imported_mentors_rank_by_language_origin_area_and_load(
    scoring: httpx.AsyncClient, directory: Directory, token: TokenFactory
) -> None:
    d = directory
    body = {
        "languages": ["wo"],
        "origin": "SN",
        "gender": "female",
        "gender_preference": "same",
        "area": {"admin1": d.code("dakar")},
        "programme_ids": [d.mentoring],
    }

    async def ranked() -> list[dict[str, Any]] | None:
        items = (await _match(scoring, token, "/v1/match/mentors", body))["items"]
        return items or None

    items = await eventually(ranked, timeout=20)
    assert [i["mentor_id"] for i in items] == [d.mentors["near"], d.mentors["busy"]]
    assert all(i["programme_id"] == d.mentoring for i in items)
    near = items[0]
    assert "shares wo" in near["reasons"]
    assert "same origin (SN)" in near["reasons"]
    assert "lives in the mentee's admin1" in near["reasons"]
    assert (near["active_mentees"], near["max_mentees"]) == (1, 4)
    anyone = await _match(scoring, token, "/v1/match/mentors", {**body, "gender_preference": "any"})
    assert d.mentors["man"] in [i["mentor_id"] for i in anyone["items"]]


async def test_a_capacity_change_in_referrals_re_ranks_in_scoring(
    scoring: httpx.AsyncClient, referrals: httpx.AsyncClient, directory: Directory, token: TokenFactory
) -> None:
    d = directory
    # Language aside (a client who needs no particular language), capacity decides between the two.
    before = await _services_ranked(scoring, token, d, expected=2, language=None)
    assert [i["service_id"] for i in before] == [d.housing, d.shelter]
    admin = bearer(token(d.agency, ("agency_admin",)))
    for service_id, capacity in (
        (d.housing, {"open_slots": 0}),
        (d.shelter, {"open_slots": 6, "waiting_time_days": 0}),
    ):
        response = await referrals.put(
            f"/v1/hsds/services/{service_id}/capacity", json=capacity, headers=admin
        )
        assert response.status_code == 200, response.text

    async def re_ranked() -> list[dict[str, Any]] | None:
        items = await _services_ranked(scoring, token, d, expected=2, language=None)
        # Both changes arrive as separate events: wait for the projection to hold the two of them.
        slots = {i["service_id"]: i["open_slots"] for i in items}
        return items if slots == {d.shelter: 6, d.housing: 0} else None

    after = await eventually(re_ranked, timeout=20)
    assert after[0]["open_slots"] == 6
    assert "6 open slots, waiting time 0 days" in after[0]["reasons"]
    assert after[1]["service_id"] == d.housing
    assert "no open slots" in after[1]["reasons"]


async def test_an_older_fetch_never_overwrites_a_newer_projection(settings: Settings) -> None:
    """Two events about one service handled concurrently: the fetch that saw the older version may
    write last; the projection keeps the newer one."""
    from datetime import UTC, datetime, timedelta

    from passage.db import Database
    from services.scoring.directory import project_service
    from services.scoring.repository import DirectoryRepository

    service_id = str(uuid.uuid4())
    newer_at = datetime.now(UTC)

    def fetched(open_slots: int, updated_at: datetime) -> dict[str, Any]:
        return project_service(
            {
                "id": service_id,
                "name": "Housing",
                "updated_at": updated_at.isoformat().replace("+00:00", "Z"),
                "capacity": {"open_slots": open_slots},
            }
        )

    database = Database(settings, application_name="test-scoring-directory")
    repo = DirectoryRepository()
    try:
        for rows in ([fetched(0, newer_at)], [fetched(5, newer_at - timedelta(seconds=3))]):
            async with database.sessionmaker() as session:
                await repo.put(session, rows)
                await session.commit()
        async with database.sessionmaker() as session:
            [row] = [r for r in await repo.active(session) if r.service_id == service_id]
            assert row.open_slots == 0
            assert row.source_updated_at == newer_at
            await repo.put(session, [fetched(7, newer_at + timedelta(seconds=1))])
            await session.commit()
        async with database.sessionmaker() as session:
            [row] = [r for r in await repo.active(session) if r.service_id == service_id]
            assert row.open_slots == 7
            await repo.remove(session, [service_id])
            await session.commit()
    finally:
        await database.dispose()
