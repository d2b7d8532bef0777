"""The SLA is a durable timer: a referral nobody answered within the agreement's SLA becomes
overdue and escalates, even when the referrals process was killed and restarted in between."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from passage.settings import Settings
from tests.conftest import TokenFactory
from tests.referrals.conftest import (
    Network,
    Person,
    new_agency,
    publish_service,
    record_consent,
    register_client,
    sign_agreement,
)
from tests.referrals.test_referrals import referral_body
from tests.support import component_env, eventually, start_component_process_on_port

SLA_HOURS = 0.0015  # 5.4 seconds


@contextlib.contextmanager
def referrals_process(
    settings: Settings, intake_url: str, log: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    env = component_env(settings, PASSAGE_INTAKE_URL=intake_url, PASSAGE_TIMER_POLL_SECONDS="0.2")
    proc, port = start_component_process_on_port("referrals", env, str(log))
    try:
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(5)


async def _answering(url: str) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=2) as http:

        async def up() -> bool:
            try:
                return (await http.get("/health")).status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(up, timeout=60, interval=0.2)


async def test_the_sla_timer_fires_after_a_restart(
    settings: Settings,
    intake_url: str,
    intake_http: httpx.AsyncClient,
    token: TokenFactory,
    db: asyncpg.Connection,
    tmp_path: Path,
) -> None:
    log = tmp_path / "referrals.log"
    with referrals_process(settings, intake_url, log) as (first, url):
        await _answering(url)
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:

            def person(agency: str, *roles: str, sub: str | None = None) -> Person:
                return Person(http, token(agency, roles or ("case_worker",)), agency)

            sender, receiver = new_agency("s"), new_agency("r")
            await sign_agreement(person, sender, receiver, sla_hours=SLA_HOURS)
            _, service_id = await publish_service(person, receiver)
            network = Network(sender, receiver, {}, service_id, "")
            client_id = await register_client(intake_http, token, sender)
            consent = await record_consent(intake_http, token, sender, client_id, grantee_agency_id=receiver)
            sent = await person(sender).post(
                "/v1/referrals", json=referral_body(network, client_id, consent["id"])
            )
            assert sent.status_code == 201, sent.text
            answered = await person(sender).post(
                "/v1/referrals", json=referral_body(network, client_id, consent["id"])
            )
            await person(receiver).post(
                f"/v1/referrals/{answered.json()['id']}/transitions", json={"to": "accepted"}
            )
        referral_id = sent.json()["id"]
        due_at = datetime.fromisoformat(sent.json()["due_at"])
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)

    timers = await db.fetch(
        "SELECT key FROM referrals.timer WHERE kind = 'referral_sla' AND key = ANY($1::text[])",
        [referral_id, answered.json()["id"]],
    )
    assert [t["key"] for t in timers] == [referral_id]  # the accepted one's timer was cancelled
    await asyncio.sleep(max(0.0, (due_at - datetime.now(due_at.tzinfo)).total_seconds()) + 0.5)
    assert await db.fetchval("SELECT overdue FROM referrals.referral WHERE id = $1", referral_id) is False

    with referrals_process(settings, intake_url, log) as (_, url):
        await _answering(url)
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            reader = Person(http, token(receiver, ("supervisor",)), receiver)

            async def overdue() -> dict[str, Any] | None:
                body = (await reader.get(f"/v1/referrals/{referral_id}")).json()
                return body if body["overdue"] else None

            body = await eventually(overdue, timeout=30)
    assert body["status"] == "requested"
    assert body["escalation_level"] == 1
    assert body["history"][-1]["kind"] == "escalation"
    events = await db.fetchval(
        "SELECT count(*) FROM referrals.outbox WHERE event_type = 'referrals.referral.overdue' "
        "AND convert_from(payload, 'UTF8')::jsonb->>'referral_id' = $1",
        referral_id,
    )
    assert events == 1
    accepted = await db.fetchval(
        "SELECT overdue FROM referrals.referral WHERE id = $1", answered.json()["id"]
    )
    assert accepted is False
