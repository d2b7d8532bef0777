"""Intake running in-process (real PostgreSQL, real NATS), one per test module."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from nats.aio.client import Client as NATS
from nats.js.api import ConsumerConfig, DeliverPolicy

from passage.settings import Settings
from tests.conftest import TokenFactory, bearer
from tests.support import eventually, running


@pytest.fixture(scope="module")
async def intake(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running("intake", settings) as (_, client):
        yield client


class Caller:
    """A person of an agency calling intake: `await amina.post(...)` with the right token."""

    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self.http, self.token = http, token

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        return {**bearer(self.token), **(extra or {})}

    async def get(self, url: str, **kw: Any) -> httpx.Response:
        return await self.http.get(url, headers=self._headers(kw.pop("headers", None)), **kw)

    async def post(self, url: str, json: Any = None, **kw: Any) -> httpx.Response:
        return await self.http.post(url, json=json, headers=self._headers(kw.pop("headers", None)), **kw)

    async def patch(self, url: str, json: Any = None, **kw: Any) -> httpx.Response:
        return await self.http.patch(url, json=json, headers=self._headers(kw.pop("headers", None)), **kw)

    async def register(self, **fields: Any) -> dict[str, Any]:
        body = {
            "given_name": "Test",
            "family_name": unique_name(),
            "birth_year": 1990,
            "sex": "female",
            **fields,
        }
        response = await self.post("/v1/clients", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())


def unique_name() -> str:
    return "Fam" + uuid.uuid4().hex[:10]


@pytest.fixture
def caller(intake: httpx.AsyncClient, token: TokenFactory) -> Any:
    def make(
        agency: str | None = None, roles: tuple[str, ...] = ("case_worker",), sub: str | None = None
    ) -> Caller:
        kwargs = {"sub": sub} if sub else {}
        return Caller(intake, token(agency or f"agency-{uuid.uuid4().hex[:8]}", roles, **kwargs))

    return make


async def published(nc: NATS, event_type: str, **match: str) -> dict[str, Any]:
    """Wait until an event of `event_type` whose payload has `match` is in the INTAKE stream."""
    js = nc.jetstream()

    async def probe() -> dict[str, Any] | None:
        sub = await js.pull_subscribe(
            event_type,
            stream="INTAKE",
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, inactive_threshold=5),
        )
        try:
            info = await sub.consumer_info()
            remaining = info.num_pending
            while remaining > 0:
                batch = await sub.fetch(batch=min(remaining, 500), timeout=5)
                remaining -= len(batch)
                for message in batch:
                    data = json.loads(message.data)
                    if all(str(data.get(k)) == v for k, v in match.items()):
                        return dict(data)
            return None
        finally:
            await sub.unsubscribe()

    return await eventually(probe, timeout=15, interval=0.2)
