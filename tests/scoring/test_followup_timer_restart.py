"""A follow-up's durable timer survives a restart of the scoring process."""

from __future__ import annotations

import signal
import subprocess
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from nats.aio.client import Client as NATS

from passage.contracts.intake import CasePlanChanged
from passage.settings import Settings
from tests.conftest import TokenFactory, bearer
from tests.scoring.helpers import Collector, publish
from tests.support import component_env, eventually, start_component_process_on_port


async def _serving(port: int) -> httpx.AsyncClient:
    http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5)

    async def up() -> bool:
        try:
            return (await http.get("/ready")).status_code == 200
        except httpx.HTTPError:
            return False

    await eventually(up, timeout=30, interval=0.2)
    return http


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


async def test_a_follow_up_timer_fires_after_the_process_restarts(
    settings: Settings, token: TokenFactory, nc: NATS, db: asyncpg.Connection, tmp_path: Path
) -> None:
    collector = Collector()
    await collector.start(nc, settings)
    env = component_env(settings, PASSAGE_TIMER_POLL_SECONDS="0.2")
    client_id, agency = uuid.uuid4(), f"agency-{uuid.uuid4().hex[:6]}"
    headers = bearer(token(agency=agency))
    proc, port = start_component_process_on_port("scoring", env, str(tmp_path / "first.log"))
    try:
        http = await _serving(port)
        await publish(
            nc,
            settings,
            CasePlanChanged(
                plan_id=uuid.uuid4(),
                client_id=client_id,
                agency_id=agency,
                status="active",
                start_date=date.today() + timedelta(days=2),
                case_worker="cw-7",
            ),
            source="intake",
        )

        async def first_follow_up() -> dict[str, Any] | None:
            response = await http.get(f"/v1/clients/{client_id}/schedule", headers=headers)
            items = response.json().get("items", []) if response.status_code == 200 else []
            return next((i for i in items if i["kind"] == "follow_up" and i["month"] == 1), None)

        item = await eventually(first_follow_up)
        await http.aclose()
    finally:
        _stop(proc)
    assert collector.of("scoring.followup.due", client_id=client_id) == []
    # While the process is down, the clock passes the item's due time.
    moved = await db.execute(
        "UPDATE scoring.timer SET due_at = now() - interval '1 second' "
        "WHERE kind = 'followup_due' AND key = $1",
        item["id"],
    )
    assert moved == "UPDATE 1"
    proc, port = start_component_process_on_port("scoring", env, str(tmp_path / "second.log"))
    try:
        due = await collector.wait_for("scoring.followup.due", client_id=client_id, timeout=30)
        assert due[0]["item_id"] == item["id"]
        assert due[0]["case_worker"] == "cw-7"
        assert await db.fetchval("SELECT count(*) FROM scoring.timer WHERE key = $1", item["id"]) == 0
        assert (
            await db.fetchval(
                "SELECT status FROM scoring.scheduled_assessments WHERE id = $1", uuid.UUID(item["id"])
            )
            == "due"
        )
    finally:
        _stop(proc)
    assert len(collector.of("scoring.followup.due", client_id=client_id)) == 1
