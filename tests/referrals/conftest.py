"""Referrals next to a real intake: intake served over HTTP on a loopback port (referrals calls it
with its service identity, as in production), referrals in-process with its real lifespan."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from passage.settings import Settings
from tests.conftest import TokenFactory, bearer
from tests.support import running, serving


@pytest.fixture(scope="module")
async def intake_url(settings: Settings) -> AsyncIterator[str]:
    async with serving("intake", settings) as url:
        yield url


@pytest.fixture(scope="module")
def stack_settings(settings: Settings, intake_url: str) -> Settings:
    return settings.model_copy(update={"intake_url": intake_url, "timer_poll_seconds": 0.2})


@pytest.fixture(scope="module")
async def referrals(stack_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running("referrals", stack_settings) as (_, client):
        yield client


@pytest.fixture(scope="module")
async def intake_http(intake_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=intake_url, timeout=10) as client:
        yield client


class Person:
    """Someone of an agency with a token: `await amina.post(...)`."""

    def __init__(self, http: httpx.AsyncClient, token: str, agency: str) -> None:
        self.http, self.token, self.agency = http, token, agency

    def _h(self, extra: dict[str, str] | None) -> dict[str, str]:
        return {**bearer(self.token), **(extra or {})}

    async def get(self, url: str, **kw: Any) -> httpx.Response:
        return await self.http.get(url, headers=self._h(kw.pop("headers", None)), **kw)

    async def post(self, url: str, json: Any = None, **kw: Any) -> httpx.Response:
        return await self.http.post(url, json=json, headers=self._h(kw.pop("headers", None)), **kw)

    async def put(self, url: str, json: Any = None, **kw: Any) -> httpx.Response:
        return await self.http.put(url, json=json, headers=self._h(kw.pop("headers", None)), **kw)


def new_agency(prefix: str = "agency") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Network:
    """Two agencies with a signed agreement, a service run by the receiver, and a client of the sender."""

    sender: str
    receiver: str
    agreement: dict[str, Any]
    service_id: str
    organization_id: str


@pytest.fixture
def person(referrals: httpx.AsyncClient, token: TokenFactory):  # type: ignore[no-untyped-def]
    def make(
        agency: str, *roles: str, sub: str | None = None, http: httpx.AsyncClient | None = None
    ) -> Person:
        kwargs = {"sub": sub} if sub else {}
        return Person(http or referrals, token(agency, roles or ("case_worker",), **kwargs), agency)

    return make


async def sign_agreement(
    person: Any,
    sender: str,
    receiver: str,
    *,
    categories: list[str] | None = None,
    referral_types: list[str] | None = None,
    sla_hours: float = 48,
    on_consent_withdrawn: str = "on_hold",
    both_ways: bool = False,
) -> dict[str, Any]:
    direction = {
        "from_agency": sender,
        "to_agency": receiver,
        "categories": categories or ["identity", "contact", "needs"],
        "purposes": ["referral", "follow_up"],
        "referral_types": referral_types or ["any"],
        "sla_hours": sla_hours,
        "who_may_refer": ["case_worker", "supervisor"],
    }
    directions = [direction]
    if both_ways:
        directions.append({**direction, "from_agency": receiver, "to_agency": sender})
    proposed = await person(sender, "agency_admin").post(
        "/v1/agreements",
        json={
            "parties": [sender, receiver],
            "valid_from": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
            "directions": directions,
            "on_consent_withdrawn": on_consent_withdrawn,
        },
    )
    assert proposed.status_code == 201, proposed.text
    signed = await person(receiver, "agency_admin").post(f"/v1/agreements/{proposed.json()['id']}/sign")
    assert signed.status_code == 200, signed.text
    return dict(signed.json())


async def publish_service(person: Any, receiver: str, **service: Any) -> tuple[str, str]:
    org_id, service_id = str(uuid.uuid4()), str(uuid.uuid4())
    response = await person(receiver, "agency_admin").post(
        "/v1/hsds/import",
        json={
            "organizations": [{"id": org_id, "name": f"Org of {receiver}", "agency_id": receiver}],
            "services": [{"id": service_id, "organization_id": org_id, "name": "Counselling", **service}],
        },
    )
    assert response.status_code == 200, response.text
    return org_id, service_id


@pytest.fixture
async def network(person: Any) -> Network:
    sender, receiver = new_agency("sender"), new_agency("receiver")
    agreement = await sign_agreement(person, sender, receiver, both_ways=True)
    org_id, service_id = await publish_service(person, receiver, referral_type="psychosocial_support")
    return Network(sender, receiver, agreement, service_id, org_id)


async def register_client(
    intake_http: httpx.AsyncClient, token: TokenFactory, agency: str, **fields: Any
) -> str:
    body = {
        "given_name": "Awa",
        "family_name": "N" + uuid.uuid4().hex[:8],
        "birth_year": 1994,
        "sex": "female",
        "gender": "woman",
        **fields,
    }
    response = await intake_http.post(
        "/v1/clients", json=body, headers=bearer(token(agency, ("case_worker",)))
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def record_consent(
    intake_http: httpx.AsyncClient, token: TokenFactory, agency: str, client_id: str, **fields: Any
) -> dict[str, Any]:
    body = {
        "grantee_agency_id": None,
        "purposes": ["referral"],
        "categories": ["identity", "contact", "needs"],
        "obtained_by": "written",
        **fields,
    }
    response = await intake_http.post(
        f"/v1/clients/{client_id}/consents", json=body, headers=bearer(token(agency, ("case_worker",)))
    )
    assert response.status_code == 201, response.text
    return dict(response.json())
