"""nats-server killed with SIGKILL while clients register: intake keeps accepting (the outbox holds
the events), /ready says NATS is unreachable, and after the restart every committed event is
published and applied exactly once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from passage.cli.embedded import EmbeddedNats, free_port_block
from passage.settings import Settings
from tests.conftest import TokenFactory, bearer
from tests.support import eventually, running

PERSON = {"given_name": "Tesfaye", "family_name": "Bekele", "birth_year": 1979, "sex": "male"}


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(tmp_path / "nats", port=free_port_block(1))
    server.start()
    yield server
    server.stop()


async def test_events_committed_while_nats_is_down_are_delivered_once_it_is_back(
    settings: Settings, token: TokenFactory, db: asyncpg.Connection, own_nats: EmbeddedNats
) -> None:
    local = settings.model_copy(update={"nats_url": own_nats.url, "outbox_poll_seconds": 0.2})
    agency = f"agency-outage-{uuid.uuid4().hex[:6]}"
    headers = bearer(token(agency))

    async def notified() -> int:
        sql = "SELECT count(*) FROM notifications.in_app_notifications WHERE recipient_agency = $1"
        return int(await db.fetchval(sql, agency))

    async with running("intake", local) as (_, intake), running("notifications", local):
        for _ in range(3):
            assert (await intake.post("/v1/clients", json=PERSON, headers=headers)).status_code == 201

        async def three() -> bool:
            return await notified() == 3

        await eventually(three)

        assert own_nats.proc is not None
        own_nats.proc.kill()  # SIGKILL: no goodbye to the clients
        own_nats.proc.wait()
        own_nats.proc = None

        async def not_ready() -> bool:
            return (await intake.get("/ready")).status_code == 503

        await eventually(not_ready)
        for _ in range(4):
            assert (await intake.post("/v1/clients", json=PERSON, headers=headers)).status_code == 201
        unpublished = (
            "SELECT count(*) FROM intake.outbox WHERE published_at IS NULL AND headers->>'ce-subject' IN "
        )
        unpublished += "(SELECT 'client/' || id FROM intake.clients WHERE agency_id = $1)"
        assert await db.fetchval(unpublished, agency) == 4

        own_nats.start()  # same port, same store: the streams and the durable consumers survive

        async def seven() -> bool:
            return await notified() == 7

        await eventually(seven, timeout=60)
        assert (await intake.get("/ready")).status_code == 200
        assert await db.fetchval(unpublished, agency) == 0
    assert await notified() == 7
