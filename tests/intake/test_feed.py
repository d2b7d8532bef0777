"""The delta feed (`GET /v1/changes`): a client that follows its cursor sees every change of its
agency exactly once, even while many writers commit concurrently and out of order."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg

from tests.support import eventually


async def follow(worker: Any, cursor: str | None) -> tuple[list[dict[str, Any]], str]:
    """Read the feed from `cursor` until it has nothing more right now."""
    items: list[dict[str, Any]] = []
    while True:
        params = {"limit": 50, **({"since": cursor} if cursor else {})}
        response = await worker.get("/v1/changes", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return items, cursor


async def test_the_change_feed_lists_the_agencys_changes_since_a_cursor(caller: Any) -> None:
    worker = caller(f"agency-feed-{uuid.uuid4().hex[:6]}")
    _, start = await follow(worker, None)
    a = await worker.register()
    await caller("agency-not-mine").register()
    await worker.post(
        f"/v1/clients/{a['id']}/consents",
        json={"purposes": ["referral"], "categories": ["all"], "obtained_by": "written"},
    )

    async def both() -> tuple[list[dict[str, Any]], str] | None:
        items, cursor = await follow(worker, start)
        return (items, cursor) if len(items) >= 2 else None

    items, cursor = await eventually(both, timeout=10)
    assert [(i["resource"], i["action"], i["client_id"]) for i in items] == [
        ("client", "registered", a["id"]),
        ("consent", "granted", a["id"]),
    ]
    again = (await worker.get("/v1/changes", params={"since": cursor})).json()
    assert again["items"] == []
    assert again["next_cursor"] == cursor
    assert (await worker.get("/v1/changes", params={"since": "garbage"})).status_code == 400


async def test_a_change_committed_late_is_not_skipped_by_a_reader_already_past_later_ones(
    caller: Any, db: asyncpg.Connection, database_url: str
) -> None:
    """A slow writer takes its place in the feed before faster writers and commits after them:
    the reader must not move its cursor past the slow writer's change while it is in flight."""
    agency = f"agency-slow-{uuid.uuid4().hex[:6]}"
    worker = caller(agency)
    first = await worker.register()
    _, cursor = await eventually(lambda: _nonempty(follow(worker, None)), timeout=10)

    slow = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        transaction = slow.transaction()
        await transaction.start()
        slow_seq = await slow.fetchval(
            "INSERT INTO intake.changes (agency_id, client_id, resource, resource_id, action, changed_by,"
            " changed_at) VALUES ($1, $2, 'client', $2, 'updated', 'slow-writer', now()) RETURNING seq",
            agency,
            uuid.UUID(first["id"]),
        )
        fast = [await worker.register() for _ in range(3)]
        seen, cursor = await follow(worker, cursor)  # the fast ones are committed, the slow one not
        await transaction.commit()
    finally:
        await slow.close()

    async def everything() -> list[dict[str, Any]] | None:
        nonlocal cursor
        more, cursor = await follow(worker, cursor)
        seen.extend(more)
        return seen if len(seen) >= 4 else None

    await eventually(everything, timeout=10)
    ids = [(i["action"], i["client_id"]) for i in seen]
    assert ids.count(("updated", first["id"])) == 1  # the slow writer's change, seen once
    assert sorted(c for a, c in ids if a == "registered") == sorted(f["id"] for f in fast)
    assert len(ids) == 4
    assert slow_seq is not None


async def _nonempty(read: Any) -> Any:
    items, cursor = await read
    return (items, cursor) if items else None


async def test_a_poller_sees_every_change_exactly_once_under_concurrent_registrations(caller: Any) -> None:
    agency = f"agency-busy-{uuid.uuid4().hex[:6]}"
    worker = caller(agency)
    total, writers = 120, 12
    registered: list[str] = []
    seen: list[str] = []
    writing = True

    async def writer(n: int) -> None:
        writer_caller = caller(agency, sub=f"writer-{n}")
        for _ in range(total // writers):
            registered.append((await writer_caller.register())["id"])

    async def poller() -> None:
        cursor = None
        while True:
            finished = not writing
            items, cursor = await follow(worker, cursor)
            seen.extend(i["client_id"] for i in items if i["action"] == "registered")
            if finished and len(seen) >= total:
                return
            await asyncio.sleep(0.005)

    reading = asyncio.create_task(poller())
    await asyncio.gather(*(writer(n) for n in range(writers)))
    writing = False
    await asyncio.wait_for(reading, timeout=20)
    assert len(registered) == total
    assert len(seen) == len(set(seen)), "a change was served twice"
    assert set(seen) == set(registered), "a change was skipped"
