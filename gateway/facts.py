"""The facts a policy decision needs: client metadata, the client's consents, the agreements between
two agencies, the caller's break-glass grant. All reads on the gateway's own identity: they happen
BEFORE the decision.

- Clients: a DataLoader per request (`GET /v1/clients?ids=`, 100 per call).
- Consents: cached per client at the client's `consent_revision` (see `policy/cache.py`). The
  revision comes with the client record, read afresh on every request, so a withdrawal, however it
  was made, binds the next request even if its event is still in flight. Misses of one request are
  read together: `GET /v1/consents?client_ids=` (100 per call), which answers each client's
  consents with the revision read in the same snapshot.
- Agreements: `GET /v1/agreements?between=OWNER,RECIPIENT&at=now`, cached per pair in the
  process and dropped by `referrals.agreement.changed` (see `policy/cache.py`); the validity window
  is checked again against the decision time.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.dataloader import DataLoader

from gateway.audit.tables import breakglass_grants
from gateway.policy.agreements import DataSharingAgreement
from gateway.policy.cache import PolicyCache
from gateway.policy.pdp import BreakGlassGrant, ClientFacts, Decision, Requester, decide
from gateway.services import Upstream, UpstreamError, clients_query
from passage.consent import ConsentRecord

MAX_IDS_PER_CALL = 100


def _too_many_consents(exc: UpstreamError) -> bool:
    errors = exc.errors if isinstance(exc.errors, list) else []
    return any(isinstance(e, dict) and e.get("code") == "too_many_consents" for e in errors)


class PolicyFacts:
    def __init__(
        self, upstream: Upstream, cache: PolicyCache, engine: AsyncEngine, requester: Requester | None
    ):
        self.upstream = upstream
        self.cache = cache
        self.engine = engine
        self.requester = requester
        self.clients: DataLoader[uuid.UUID, dict[str, Any] | None] = DataLoader(self._load_clients)
        self._consents: DataLoader[uuid.UUID, tuple[int | None, list[ConsentRecord]]] = DataLoader(
            self._load_consents
        )
        self._grants: dict[uuid.UUID, BreakGlassGrant | None] = {}
        self._agreement_tasks: dict[frozenset[str], asyncio.Future[list[DataSharingAgreement]]] = {}

    async def _load_clients(self, ids: Sequence[uuid.UUID]) -> list[dict[str, Any] | None]:
        found: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), MAX_IDS_PER_CALL):
            chunk = unique[start : start + MAX_IDS_PER_CALL]
            body = await self.upstream.service("intake", "GET", "/v1/clients", params=clients_query(chunk))
            for item in body.get("items", []) if isinstance(body, dict) else []:
                found[str(item.get("id"))] = item
        return [found.get(str(i)) for i in ids]

    async def consents(self, client_id: uuid.UUID, revision: int | None) -> list[ConsentRecord]:
        """The client's consents, from the cache when `revision` (just read on the client's record)
        is the one they were cached at; otherwise read from intake (and kept)."""
        cached = self.cache.consents(client_id, revision)
        if cached is not None:
            return cached
        return (await self._consents.load(client_id))[1]

    async def _load_consents(self, ids: Sequence[uuid.UUID]) -> list[tuple[int | None, list[ConsentRecord]]]:
        found: dict[str, tuple[int | None, list[ConsentRecord]]] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), MAX_IDS_PER_CALL):
            chunk = unique[start : start + MAX_IDS_PER_CALL]
            try:
                body = await self.upstream.service(
                    "intake", "GET", "/v1/consents", params={"client_ids": ",".join(str(i) for i in chunk)}
                )
            except UpstreamError as exc:
                if not _too_many_consents(exc):
                    raise
                # A client holds more consents than one batch carries (intake refuses rather than
                # cut the list: a dropped deny would release data). Read these one by one, in
                # full, and keep nothing: the per-client list carries no revision.
                for client_id in chunk:
                    found[str(client_id)] = (None, await self._fetch_consents(client_id))
                continue
            for item in body.get("items", []) if isinstance(body, dict) else []:
                records = [ConsentRecord.model_validate(c) for c in item.get("consents", [])]
                revision = item.get("consent_revision")
                client_id = uuid.UUID(str(item["client_id"]))
                if isinstance(revision, int):
                    self.cache.keep_consents(client_id, revision, records)
                found[str(client_id)] = (revision if isinstance(revision, int) else None, records)
        # A client intake does not answer for has no consent the gateway could rely on.
        return [found.get(str(i), (None, [])) for i in ids]

    async def _fetch_consents(self, client_id: uuid.UUID) -> list[ConsentRecord]:
        records: list[ConsentRecord] = []
        cursor: str | None = None
        for _ in range(50):  # 50 pages of 200: far beyond any real client
            params = {"limit": "200", **({"cursor": cursor} if cursor else {})}
            page = await self.upstream.service(
                "intake", "GET", f"/v1/clients/{client_id}/consents", params=params
            )
            records.extend(ConsentRecord.model_validate(item) for item in page.get("items", []))
            cursor = page.get("next_cursor")
            if not cursor:
                return records
        raise UpstreamError("The client's consents could not be read in full", "SERVICE_UNAVAILABLE")

    async def agreements(self, a: str, b: str) -> list[DataSharingAgreement]:
        """Once per pair and request, however many clients of the page need it (concurrently)."""
        pair = frozenset((a, b))
        task = self._agreement_tasks.get(pair)
        if task is None:
            task = asyncio.ensure_future(self._agreements(a, b))
            self._agreement_tasks[pair] = task
        return await asyncio.shield(task)

    async def _agreements(self, a: str, b: str) -> list[DataSharingAgreement]:
        cached = self.cache.agreements(a, b)
        if cached is not None:
            return cached
        token = self.cache.token
        try:
            page = await self.upstream.service(
                "referrals",
                "GET",
                "/v1/agreements",
                params={"between": f"{a},{b}", "at": datetime.now(UTC).isoformat()},
            )
        except UpstreamError as exc:
            if exc.code != "NOT_FOUND":
                raise
            page = {"items": []}
        agreements = [DataSharingAgreement.model_validate(item) for item in page.get("items", [])]
        self.cache.keep_agreements(a, b, agreements, token)
        return agreements

    async def grant(self, client_id: uuid.UUID) -> BreakGlassGrant | None:
        """The caller's open break-glass window on this client, if any (read from the database)."""
        if client_id in self._grants:
            return self._grants[client_id]
        grant = None
        if self.requester is not None:
            query = (
                sa.select(breakglass_grants)
                .where(
                    breakglass_grants.c.client_id == client_id,
                    breakglass_grants.c.actor == self.requester.sub,
                    breakglass_grants.c.agency_id == self.requester.agency,
                    breakglass_grants.c.ended_at.is_(None),
                    breakglass_grants.c.expires_at > sa.func.now(),
                )
                .order_by(breakglass_grants.c.expires_at.desc())
                .limit(1)
            )
            async with self.engine.connect() as conn:
                row = (await conn.execute(query)).mappings().first()
            if row is not None:
                grant = BreakGlassGrant(
                    id=row["id"],
                    client_id=row["client_id"],
                    actor=row["actor"],
                    agency_id=row["agency_id"],
                    started_at=row["started_at"],
                    expires_at=row["expires_at"],
                    ended_at=row["ended_at"],
                )
        self._grants[client_id] = grant
        return grant

    async def decide(self, record: dict[str, Any]) -> Decision:
        assert self.requester is not None
        client = ClientFacts(
            id=uuid.UUID(str(record["id"])),
            agency_id=str(record.get("agency_id", "")),
            sensitive=bool(record.get("sensitive", False)),
        )
        now = datetime.now(UTC)
        consents: list[ConsentRecord] = []
        agreements: list[DataSharingAgreement] = []
        grant = None
        purpose = self.requester.purpose
        if purpose == "emergency":
            grant = await self.grant(client.id)
        elif client.agency_id != self.requester.agency and purpose != "statistics":
            agreements = await self.agreements(client.agency_id, self.requester.agency)
            if agreements:
                revision = record.get("consent_revision")
                consents = await self.consents(client.id, revision if isinstance(revision, int) else None)
        return decide(self.requester, client, consents=consents, agreements=agreements, grant=grant, at=now)
