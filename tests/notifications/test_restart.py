"""Deliveries survive a crash: a notifications process killed (SIGKILL) with deliveries waiting to
be retried and events not yet consumed, then started again, delivers every message exactly once."""

from __future__ import annotations

import signal
import subprocess
import uuid
from collections import Counter
from pathlib import Path

import asyncpg
import httpx
from nats.aio.client import Client as NATS

from passage.settings import Settings
from tests.conftest import TokenFactory, bearer
from tests.notifications.receivers import receiving
from tests.notifications.test_webhooks import publish_referral_accepted
from tests.support import component_env, eventually, start_component_process_on_port

EVENTS_BEFORE, EVENTS_WHILE_DOWN = 8, 8


async def _serving(port: int) -> httpx.AsyncClient:
    http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5)

    async def up() -> bool:
        try:
            return (await http.get("/ready")).status_code == 200
        except httpx.HTTPError:
            return False

    await eventually(up, timeout=30, interval=0.2)
    return http


async def count_in(db: asyncpg.Connection, endpoint_id: uuid.UUID, state: str) -> int:
    sql = "SELECT count(*) FROM notifications.deliveries WHERE endpoint_id = $1 AND state = $2"
    return int(await db.fetchval(sql, endpoint_id, state))


def _end(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


async def test_waiting_and_unconsumed_deliveries_arrive_exactly_once_after_a_crash_and_restart(
    settings: Settings, token: TokenFactory, nc: NATS, db: asyncpg.Connection, tmp_path: Path
) -> None:
    agency = f"agency-{uuid.uuid4().hex[:6]}"
    env = component_env(
        settings,
        PASSAGE_NOTIFICATIONS_RETRY_BASE_SECONDS="5",
        PASSAGE_NOTIFICATIONS_RETRY_CAP_SECONDS="5",
        PASSAGE_NOTIFICATIONS_MAX_ATTEMPTS="5",
        PASSAGE_NOTIFICATIONS_POLL_SECONDS="0.1",
        PASSAGE_NOTIFICATIONS_LEASE_SECONDS="3",
        PASSAGE_NOTIFICATIONS_ENDPOINT_FAILURE_THRESHOLD="1000",
    )
    async with receiving() as receiver:
        # Every delivery's first try fails: they wait to be retried (2.5 to 5 s) when the crash comes.
        receiver.answer("/crash", *([503] * EVENTS_BEFORE))
        first, port = start_component_process_on_port("notifications", env, str(tmp_path / "first.log"))
        try:
            http = await _serving(port)
            created = await http.post(
                "/v1/webhooks",
                json={"url": receiver.url("/crash"), "event_types": ["referrals.referral.accepted"]},
                headers=bearer(token(agency=agency, roles=("agency_admin",))),
            )
            assert created.status_code == 201, created.text
            endpoint_id = uuid.UUID(created.json()["id"])
            await http.aclose()
            for _ in range(EVENTS_BEFORE):
                await publish_referral_accepted(nc, settings, sender=agency, receiver="agency-elsewhere")

            async def all_retrying() -> bool:
                return await count_in(db, endpoint_id, "retrying") == EVENTS_BEFORE

            await eventually(all_retrying, timeout=20)
        finally:
            _end(first, signal.SIGKILL)
        assert first.returncode == -signal.SIGKILL
        # While the process is down, more events come; they wait in the stream.
        for _ in range(EVENTS_WHILE_DOWN):
            await publish_referral_accepted(nc, settings, sender=agency, receiver="agency-elsewhere")

        second, port = start_component_process_on_port("notifications", env, str(tmp_path / "second.log"))
        try:
            expected = EVENTS_BEFORE + EVENTS_WHILE_DOWN

            def delivered() -> Counter[str]:
                return Counter(r.headers["webhook-id"] for r in receiver.at("/crash") if r.status == 200)

            async def all_delivered() -> bool:
                return len(delivered()) == expected

            await eventually(all_delivered, timeout=40, interval=0.1)

            async def all_recorded() -> bool:
                return await count_in(db, endpoint_id, "succeeded") == expected

            await eventually(all_recorded, timeout=10)
        finally:
            _end(second)
    # Exactly once each: one successful answer per message id, one delivery row per event.
    assert set(delivered().values()) == {1}
    rows = await db.fetch(
        "SELECT source_event_id, attempts FROM notifications.deliveries WHERE endpoint_id = $1", endpoint_id
    )
    assert len({r["source_event_id"] for r in rows}) == len(rows) == expected
    assert sorted(r["attempts"] for r in rows) == [1] * EVENTS_WHILE_DOWN + [2] * EVENTS_BEFORE
