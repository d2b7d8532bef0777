"""SIGTERM under load: requests in flight finish, nothing answered is lost, the process exits 0."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import asyncpg
import httpx

from passage.settings import Settings
from tests.conftest import TokenFactory, bearer
from tests.support import component_env, eventually, running, start_component_process_on_port

PERSON = {"given_name": "Mariam", "family_name": "Sow", "birth_year": 1999, "sex": "female"}


async def test_sigterm_finishes_in_flight_registrations_and_loses_none(
    settings: Settings, token: TokenFactory, db: asyncpg.Connection, tmp_path: Path
) -> None:
    log = tmp_path / "intake.log"
    proc, port = start_component_process_on_port("intake", component_env(settings), str(log))
    base = f"http://127.0.0.1:{port}"
    headers = bearer(token("agency-graceful"))
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:

            async def ready() -> bool:
                try:
                    return (await http.get("/ready")).status_code == 200
                except httpx.HTTPError:
                    return False

            await eventually(ready, timeout=60)

            async def register() -> httpx.Response | Exception:
                try:
                    return await http.post("/v1/clients", json=PERSON, headers=headers)
                except httpx.HTTPError as exc:  # refused once the server stopped accepting
                    return exc

            first = [asyncio.create_task(register()) for _ in range(30)]
            # Once one is answered the server is busy with the others: signal it now.
            await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
            proc.send_signal(signal.SIGTERM)
            later = [asyncio.create_task(register()) for _ in range(10)]
            results = await asyncio.gather(*first, *later)
        exit_code = await asyncio.to_thread(proc.wait, 30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert exit_code == 0, log.read_text()
    answered = [r for r in results if isinstance(r, httpx.Response)]
    assert answered, "no request was answered before the shutdown"
    assert all(r.status_code == 201 for r in answered), [r.status_code for r in answered]
    ids = [r.json()["id"] for r in answered]
    stored = await db.fetchval("SELECT count(*) FROM intake.clients WHERE id::text = ANY($1)", ids)
    assert stored == len(ids)
    subjects = [f"client/{i}" for i in ids]
    sql = "SELECT count(*) FROM intake.outbox WHERE headers->>'ce-subject' = ANY($1)"
    assert await db.fetchval(sql, subjects) == len(ids)

    # Whatever the relay had not published before it stopped goes out at the next start.
    async with running("intake", settings):

        async def all_published() -> bool:
            pending = (
                "SELECT count(*) FROM intake.outbox "
                "WHERE headers->>'ce-subject' = ANY($1) AND published_at IS NULL"
            )
            return await db.fetchval(pending, subjects) == 0

        await eventually(all_published)
