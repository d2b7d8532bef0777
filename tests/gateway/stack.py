"""The gateway with real services behind it over loopback HTTP (uvicorn on free ports, in-process)."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI

from passage.devkeys import DEV_AUDIENCE, DEV_ISSUER, DEV_KEY_ID
from passage.settings import Settings
from tests.conftest import TokenFactory, bearer
from tests.support import running, serving


@contextlib.asynccontextmanager
async def gateway_stack(
    settings: Settings, services: tuple[str, ...] = ("intake", "referrals")
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, dict[str, str]]]:
    async with contextlib.AsyncExitStack() as stack:
        urls: dict[str, str] = {}
        for name in services:  # each service learns the URLs of those started before it (intake first)
            known = settings.model_copy(update={f"{n}_url": u for n, u in urls.items()})
            urls[name] = await stack.enter_async_context(serving(name, known))
        gw_settings = settings.model_copy(update={f"{n}_url": u for n, u in urls.items()})
        app, client = await stack.enter_async_context(running("gateway", gw_settings))
        yield app, client, urls


async def service_and_agreement(referrals_url: str, token: TokenFactory, sender: str, receiver: str) -> str:
    """A service of `receiver` in the directory, and an agreement signed by both carrying identity and
    needs from `sender` to `receiver` for referrals. Returns the service id."""
    async with httpx.AsyncClient(base_url=referrals_url) as ref:
        org, service = str(uuid.uuid4()), str(uuid.uuid4())
        dataset = {
            "organizations": [{"id": org, "name": "Bridge clinic", "agency_id": receiver}],
            "services": [{"id": service, "organization_id": org, "name": "Counselling"}],
        }
        r = await ref.post(
            "/v1/hsds/import", json=dataset, headers=bearer(token("network", roles=("coordinator",)))
        )
        assert r.status_code == 200, r.text
        proposal = {
            "parties": [sender, receiver],
            "valid_from": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
            "directions": [
                {
                    "from_agency": sender,
                    "to_agency": receiver,
                    "categories": ["identity", "needs"],
                    "purposes": ["referral"],
                    "referral_types": ["any"],
                }
            ],
        }
        r = await ref.post(
            "/v1/agreements", json=proposal, headers=bearer(token(sender, roles=("agency_admin",)))
        )
        assert r.status_code == 201, r.text
        r = await ref.post(
            f"/v1/agreements/{r.json()['id']}/sign", headers=bearer(token(receiver, roles=("agency_admin",)))
        )
        assert r.status_code == 200, r.text
    return service


def forged_token(agency: str) -> str:
    """A well-formed token for a supervisor of `agency`, under the dev key's id, signed by another key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    claims = {
        "iss": DEV_ISSUER,
        "aud": DEV_AUDIENCE,
        "sub": "mallory",
        "agency": agency,
        "roles": ["supervisor"],
        "iat": now,
        "exp": now + 600,
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": DEV_KEY_ID})
