"""Two deployments on one NATS server stay apart when one of them has a namespace."""

from __future__ import annotations

import asyncpg
from nats.aio.client import Client as NATS
from nats.js.api import ConsumerConfig, DeliverPolicy

from passage.bus.nats import stream_name, subject
from passage.settings import Settings
from tests.conftest import TokenFactory, bearer
from tests.support import eventually, running

PERSON = {"given_name": "Grace", "family_name": "Okafor", "birth_year": 2001, "sex": "female"}


async def subjects_carrying(nc: NATS, stream: str, client_id: str) -> list[str]:
    js = nc.jetstream()
    config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL, inactive_threshold=5)
    sub = await js.pull_subscribe(">", stream=stream, config=config)
    remaining = (await sub.consumer_info()).num_pending
    found = []
    while remaining > 0:
        batch = await sub.fetch(batch=min(remaining, 500), timeout=5)
        remaining -= len(batch)
        found += [m.subject for m in batch if (m.headers or {}).get("ce-subject") == f"client/{client_id}"]
    await sub.unsubscribe()
    return found


async def test_a_namespaced_deployment_keeps_its_events_to_itself(
    settings: Settings, token: TokenFactory, nc: NATS, db: asyncpg.Connection
) -> None:
    namespaced = settings.model_copy(update={"nats_namespace": "tenant_b"})
    assert stream_name("intake", "tenant_b") == "TENANT_B_INTAKE"
    tok = token("agency-namespaced")
    async with (
        running("intake", namespaced) as (_, intake),
        running("notifications", namespaced),
        running("notifications", settings),  # the default deployment's consumer, on the same NATS
    ):
        created = await intake.post("/v1/clients", json=PERSON, headers=bearer(tok))
        client_id = created.json()["id"]

        async def notified() -> int:
            sql = "SELECT count(*) FROM notifications.in_app_notifications WHERE resource = $1"
            return int(await db.fetchval(sql, f"client/{client_id}"))

        assert await eventually(notified) == 1

    assert await subjects_carrying(nc, "TENANT_B_INTAKE", client_id) == [
        subject("intake.client.registered", "tenant_b")
    ]
    assert await subjects_carrying(nc, "INTAKE", client_id) == []
