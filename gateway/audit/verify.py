"""Checking the chain: every record hashes to what the next one says, none is missing, the tail
matches the chain head. An edited record breaks its own hash; a removed one breaks the sequence
and the link; a removed tail falls short of the head."""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg

from gateway.audit.entry import GENESIS_HASH, chain_hash, content_from_row


@dataclass
class Verification:
    records: int = 0
    head_seq: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


async def verify_chain(conn: asyncpg.Connection, *, max_problems: int = 50) -> Verification:
    result = Verification()
    expected_seq, prev = 1, GENESIS_HASH
    # One snapshot for the head and the rows, so appends running meanwhile cannot look like gaps.
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        head = await conn.fetchrow("SELECT seq, hash FROM gateway.audit_chain_head WHERE id = 1")
        if head is None:
            result.problems.append("the audit chain head is missing")
            return result
        result.head_seq = head["seq"]
        async for row in conn.cursor("SELECT * FROM gateway.audit_log ORDER BY seq", prefetch=1000):
            result.records += 1
            seq = row["seq"]
            if seq != expected_seq:
                result.problems.append(f"records {expected_seq}..{seq - 1} are missing (removed)")
            if row["prev_hash"] != prev:
                result.problems.append(f"record {seq} does not follow the record before it")
            if chain_hash(row["prev_hash"], content_from_row(row)) != row["hash"]:
                result.problems.append(f"record {seq} was altered: its content no longer matches its hash")
            expected_seq, prev = seq + 1, row["hash"]
            if len(result.problems) >= max_problems:
                return result
    last_seq = expected_seq - 1
    if last_seq != head["seq"] or prev != head["hash"]:
        result.problems.append(
            f"the log ends at record {last_seq} but the chain head is at record {head['seq']} "
            "(records removed)"
        )
    return result
