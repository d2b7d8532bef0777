"""Appending to the audit log: group commit, and no caller goes on before its records are durable.

Requests hand their records to one writer task per process and wait. The writer takes whatever
has queued up, appends it in one transaction (the chain head row locked FOR UPDATE, so replicas
append one after another and the chain stays a single line), commits, and only then releases the
waiters. Under load many requests share one commit; alone, a request waits for one round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.audit.entry import AuditEntry, chain_hash
from gateway.audit.tables import audit_chain_head, audit_log

log = structlog.get_logger(__name__)

MAX_BATCH = 500


class AuditUnavailable(Exception):
    """The records could not be made durable: the response must not carry the data."""


async def append_entries(conn: AsyncConnection, entries: Sequence[AuditEntry]) -> int:
    """Append in the caller's transaction; returns the last sequence number."""
    head = (
        await conn.execute(
            sa.select(audit_chain_head.c.seq, audit_chain_head.c.hash)
            .where(audit_chain_head.c.id == 1)
            .with_for_update()
        )
    ).one()
    seq, prev = int(head.seq), str(head.hash)
    rows = []
    for entry in entries:
        seq += 1
        content = entry.content(seq)
        digest = chain_hash(prev, content)
        rows.append(
            {
                "seq": seq,
                "id": entry.id,
                "at": entry.at,
                "actor": entry.actor,
                "agency_id": entry.agency_id,
                "roles": content["roles"],
                "purpose": entry.purpose,
                "action": entry.action,
                "outcome": entry.outcome,
                "client_id": entry.client_id,
                "resource": entry.resource,
                "released": content["released"],
                "withheld": entry.withheld,
                "basis": entry.basis,
                "request_id": entry.request_id,
                "detail": entry.detail,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    await conn.execute(audit_log.insert(), rows)
    await conn.execute(audit_chain_head.update().where(audit_chain_head.c.id == 1).values(seq=seq, hash=prev))
    return seq


class AuditWriter:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._queue: asyncio.Queue[tuple[list[AuditEntry], asyncio.Future[None]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.commits = 0  # for the bench and tests: how many transactions carried the records

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gateway-audit-writer")

    async def stop(self) -> None:
        if self._task is not None:
            # Let queued records land before the process goes.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drain(), timeout=5)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _drain(self) -> None:
        while not self._queue.empty():  # noqa: ASYNC110 - the writer task empties it
            await asyncio.sleep(0.01)

    async def write(self, entries: Sequence[AuditEntry]) -> None:
        """Returns once every entry is committed; raises AuditUnavailable otherwise."""
        if not entries:
            return
        if self._task is None or self._task.done():
            raise AuditUnavailable("the audit writer is not running")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put((list(entries), done))
        await done

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            count = len(first[0])
            while not self._queue.empty() and count < MAX_BATCH:
                item = self._queue.get_nowait()
                batch.append(item)
                count += len(item[0])
            try:
                async with self._engine.begin() as conn:
                    await append_entries(conn, [e for entries, _ in batch for e in entries])
                self.commits += 1
            except Exception as exc:
                log.error("audit_append_failed", error=str(exc) or type(exc).__name__, records=count)
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(AuditUnavailable("the audit log cannot be written right now"))
                continue
            for _, fut in batch:
                if not fut.done():
                    fut.set_result(None)
