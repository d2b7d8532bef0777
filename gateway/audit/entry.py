"""One audit record and the hash that chains it to the one before."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """Who, for which agency and purpose, did what to which client: what was released, what
    withheld, and on which basis (consent ids, agreement id and version, rule, break-glass grant)."""

    actor: str
    agency_id: str
    roles: tuple[str, ...]
    purpose: str | None
    action: str  # read_client, read_scores, refused, breakglass.started, ...
    outcome: str  # released, partial, refused, recorded
    request_id: str
    client_id: uuid.UUID | None = None
    resource: str | None = None
    released: tuple[str, ...] = ()
    withheld: dict[str, str] = field(default_factory=dict)  # category or path -> reason
    basis: dict[str, Any] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def content(self, seq: int) -> dict[str, Any]:
        """The fields the hash covers, as stored (JSON values round-trip through jsonb unchanged)."""
        return {
            "seq": seq,
            "id": str(self.id),
            "at": self.at.astimezone(UTC).isoformat(),
            "actor": self.actor,
            "agency_id": self.agency_id,
            "roles": sorted(self.roles),
            "purpose": self.purpose,
            "action": self.action,
            "outcome": self.outcome,
            "client_id": str(self.client_id) if self.client_id else None,
            "resource": self.resource,
            "released": sorted(self.released),
            "withheld": self.withheld,
            "basis": self.basis,
            "request_id": self.request_id,
            "detail": self.detail,
        }


def chain_hash(prev_hash: str, content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical.encode()).hexdigest()


def content_from_row(row: Any) -> dict[str, Any]:
    """The hashed content of a stored row (asyncpg Record or mapping), for verification."""

    def js(value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    return {
        "seq": row["seq"],
        "id": str(row["id"]),
        "at": row["at"].astimezone(UTC).isoformat(),
        "actor": row["actor"],
        "agency_id": row["agency_id"],
        "roles": js(row["roles"]),
        "purpose": row["purpose"],
        "action": row["action"],
        "outcome": row["outcome"],
        "client_id": str(row["client_id"]) if row["client_id"] else None,
        "resource": row["resource"],
        "released": js(row["released"]),
        "withheld": js(row["withheld"]),
        "basis": js(row["basis"]),
        "request_id": row["request_id"],
        "detail": js(row["detail"]),
    }
