# mypy: disable-error-code="untyped-decorator,no-any-return"
"""Queries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from gateway.audit.tables import audit_log
from gateway.context import GatewayContext
from gateway.errors import from_upstream, gql_error
from gateway.schema.clients import (
    Client,
    ClientFilter,
    check_client_level_access,
    load_client,
    parse_id,
    release_client,
)
from gateway.schema.relay import Connection, page_size, position_cursor, read_position_cursor
from gateway.schema.types import Notification, Referral, from_json
from gateway.services import UpstreamError
from gateway.statistics import suppress

Ctx = Info[GatewayContext, None]


@strawberry.type
class Me:
    sub: str
    agency: str
    roles: list[str]
    purpose: str


@strawberry.type(description="One access to a client's data, as the audit log keeps it.")
class AccessRecord:
    seq: int
    at: datetime
    actor: str
    agency_id: str
    purpose: str | None
    action: str
    outcome: str
    client_id: str | None
    released: list[str]
    withheld: JSON
    basis: JSON


@strawberry.type(
    description="A service of the directory (Open Referral HSDS 3.0). Not personal data; `hsds` is "
    "the whole record as the directory serves it (organization, sites, languages, capacity, mentors)."
)
class DirectoryService:
    id: strawberry.ID
    name: str
    description: str | None
    status: str | None
    organization_name: str | None
    languages: list[str]
    hsds: JSON


def _directory_service(record: dict[str, Any]) -> DirectoryService:
    organization = record.get("organization") or {}
    languages = [str(lang.get("code")) for lang in record.get("languages") or [] if isinstance(lang, dict)]
    return DirectoryService(
        id=strawberry.ID(str(record.get("id"))),
        name=str(record.get("name") or ""),
        description=record.get("description"),
        status=record.get("status"),
        organization_name=organization.get("name") if isinstance(organization, dict) else None,
        languages=[code for code in languages if code != "None"],
        hsds=record,  # type: ignore[arg-type]
    )


@strawberry.type
class StatCell:
    dimensions: JSON
    count: int | None = strawberry.field(
        description="null: suppressed (a small cell, or one that would reveal one)"
    )
    suppressed: bool


@strawberry.type
class StatisticsTable:
    source: str
    group_by: list[str]
    cells: list[StatCell]
    total: int | None


async def _service(ctx: GatewayContext, target: str, method: str, path: str, **kw: Any) -> Any:
    try:
        return await ctx.upstream.service(target, method, path, **kw)
    except UpstreamError as exc:
        raise from_upstream(exc) from None


async def _on_behalf(ctx: GatewayContext, target: str, method: str, path: str, **kw: Any) -> Any:
    try:
        return await ctx.upstream.on_behalf(target, method, path, **kw)
    except UpstreamError as exc:
        raise from_upstream(exc) from None


def _limits(ctx: GatewayContext, first: int | None) -> int:
    lim = ctx.runtime.limits
    return page_size(first, default=lim.default_page_size, maximum=lim.max_page_size)


async def _client_scoped(ctx: GatewayContext, client_id: strawberry.ID, category: str, path: str) -> Any:
    """Scores and schedules: released only if the PDP releases `category` of the client."""
    cid = parse_id(client_id)
    await load_client(ctx, cid)  # refuses (and audits) if the caller may not know the client
    record = await ctx.facts.clients.load(cid)
    assert record is not None
    decision = await ctx.facts.decide(record)
    if category not in decision.released:
        why = decision.withheld.get(category)
        ctx.entry(action=f"read_{category}", outcome="refused", client_id=cid, basis=decision.basis())
        raise gql_error(why.detail if why else f"'{category}' is not released to you", "FORBIDDEN")
    body = await _service(ctx, "scoring", "GET", path)
    ctx.entry(
        action=f"read_{category}",
        outcome="released",
        client_id=cid,
        released=(category,),
        basis=decision.basis(),
    )
    return body


@strawberry.type
class Query:
    @strawberry.field(description="Who you are to the gateway, and the purpose you declared.")
    def me(self, info: Ctx) -> Me:
        caller = info.context.require_caller()
        return Me(
            sub=caller.subject.sub,
            agency=caller.subject.agency,
            roles=sorted(caller.subject.roles),
            purpose=caller.purpose.value,
        )

    @strawberry.field(description="One client, field by field as consent, agreement, role and purpose allow.")
    async def client(self, info: Ctx, id: strawberry.ID) -> Client:
        return await load_client(info.context, parse_id(id))

    @strawberry.field(description="Your own agency's clients (cursor-paginated).")
    async def clients(
        self,
        info: Ctx,
        first: int | None = None,
        after: str | None = None,
        filter: ClientFilter | None = None,
    ) -> Connection[Client]:
        ctx = info.context
        check_client_level_access(ctx, None)
        params: dict[str, str] = {"limit": str(_limits(ctx, first))}
        if after:
            params["cursor"] = after
        if filter and filter.status:
            params["status"] = filter.status
        if filter and filter.q:
            params["q"] = filter.q
        page = await _on_behalf(ctx, "intake", "GET", "/v1/clients", params=params)
        nodes = []
        for record in page.get("items", []):
            nodes.append(await release_client(ctx, record, parse_id(record.get("id"))))
        return Connection.of(nodes, page.get("next_cursor"))

    @strawberry.field(description="A referral you sent or received.")
    async def referral(self, info: Ctx, id: strawberry.ID) -> Referral:
        ctx = info.context
        rid = parse_id(id, "referral")
        body = await _on_behalf(ctx, "referrals", "GET", f"/v1/referrals/{rid}")
        ctx.entry(action="read_referral", outcome="released", resource=f"referral/{rid}")
        return from_json(Referral, body)

    @strawberry.field(description="Referrals you sent or received; each `client` goes through the policy.")
    async def referrals(
        self,
        info: Ctx,
        first: int | None = None,
        after: str | None = None,
        direction: str | None = None,
        status: str | None = None,
    ) -> Connection[Referral]:
        ctx = info.context
        params: dict[str, str] = {"limit": str(_limits(ctx, first))}
        for key, value in (("cursor", after), ("direction", direction), ("status", status)):
            if value:
                params[key] = value
        page = await _on_behalf(ctx, "referrals", "GET", "/v1/referrals", params=params)
        items = page.get("items", [])
        ctx.entry(action="list_referrals", outcome="released", detail={"count": len(items)})
        return Connection.of([from_json(Referral, i) for i in items], page.get("next_cursor"))

    @strawberry.field(
        description="The service directory (Open Referral HSDS 3.0), filters combined with AND. "
        "Not personal data."
    )
    async def services(
        self,
        info: Ctx,
        first: int | None = None,
        after: str | None = None,
        search: str | None = None,
        taxonomy_term_id: strawberry.ID | None = None,
        language: str | None = None,
        area: str | None = None,
    ) -> Connection[DirectoryService]:
        ctx = info.context
        size = _limits(ctx, first)
        # The directory pages by number; the cursor is the page the edges came from.
        done = read_position_cursor("directory-page", after) or 0
        params = {"page": str(done + 1), "per_page": str(size)}
        for key, value in (
            ("search", search),
            ("taxonomy_term_id", taxonomy_term_id),
            ("language", language),
            ("area", area),
        ):
            if value:
                params[key] = str(value)
        page = await _on_behalf(ctx, "referrals", "GET", "/v1/hsds/services", params=params)
        cursor = position_cursor("directory-page", done + 1)
        nodes = [_directory_service(r) for r in page.get("contents", []) if isinstance(r, dict)]
        return Connection.with_cursors([(cursor, n) for n in nodes], not page.get("last_page", True))

    @strawberry.field(description="The client's reintegration (RSS) scores, if `scores` is released to you.")
    async def client_scores(self, info: Ctx, client_id: strawberry.ID) -> JSON:
        return await _client_scoped(
            info.context, client_id, "scores", f"/v1/clients/{parse_id(client_id)}/scores"
        )

    @strawberry.field(description="The client's follow-up schedule, if `case_notes` is released to you.")
    async def client_schedule(self, info: Ctx, client_id: strawberry.ID) -> JSON:
        return await _client_scoped(
            info.context, client_id, "case_notes", f"/v1/clients/{parse_id(client_id)}/schedule"
        )

    @strawberry.field(description="Your in-app notifications.")
    async def notifications(
        self, info: Ctx, first: int | None = None, after: str | None = None
    ) -> Connection[Notification]:
        ctx = info.context
        params = {"limit": str(_limits(ctx, first)), **({"cursor": after} if after else {})}
        page = await _on_behalf(ctx, "notifications", "GET", "/v1/notifications", params=params)
        items = [from_json(Notification, n) for n in page.get("items", [])]
        return Connection.of(items, page.get("next_cursor"))

    @strawberry.field(
        description="Who accessed this client of your agency, when and why (case workers, supervisors)."
    )
    async def access_log(
        self, info: Ctx, client_id: strawberry.ID, first: int | None = None, after: str | None = None
    ) -> Connection[AccessRecord]:
        ctx = info.context
        cid = parse_id(client_id)
        client = await load_client(ctx, cid)
        if client.agency_id != ctx.subject.agency:
            raise gql_error("Only the client's own agency sees who accessed the client", "FORBIDDEN")
        return await _access_records(ctx, audit_log.c.client_id == cid, first, after)

    @strawberry.field(
        description="The audit trail of your agency's clients and staff, newest first (data protection "
        "officers). Filter by `actor` (a `sub`) or `clientId`."
    )
    async def audit_trail(
        self,
        info: Ctx,
        first: int | None = None,
        after: str | None = None,
        actor: str | None = None,
        client_id: strawberry.ID | None = None,
    ) -> Connection[AccessRecord]:
        ctx = info.context
        if "data_protection_officer" not in ctx.subject.roles:
            ctx.entry(action="read_audit_trail", outcome="refused", detail={"code": "FORBIDDEN"})
            raise gql_error("The audit trail is for data protection officers", "FORBIDDEN")
        where = [audit_log.c.agency_id == ctx.subject.agency]
        if actor:
            where.append(audit_log.c.actor == actor)
        if client_id:
            where.append(audit_log.c.client_id == parse_id(client_id))
        ctx.entry(action="read_audit_trail", outcome="released")
        return await _access_records(ctx, sa.and_(*where), first, after)

    @strawberry.field(
        description="Aggregate counts for coordinators; small cells suppressed. Purpose `statistics`."
    )
    async def statistics(
        self,
        info: Ctx,
        group_by: list[str],
        source: str = "clients",
        from_: Annotated[str | None, strawberry.argument(name="from")] = None,
        to: str | None = None,
    ) -> StatisticsTable:
        ctx = info.context
        caller = ctx.require_caller()
        if caller.purpose.value != "statistics":
            raise gql_error("Statistics are served under the purpose `statistics` only", "FORBIDDEN")
        params = {
            "group_by": ",".join(group_by),
            **({"from": from_} if from_ else {}),
            **({"to": to} if to else {}),
        }
        if source == "clients":
            raw = await _service(ctx, "intake", "GET", "/v1/statistics/clients", params=params)
        elif source == "referrals":
            raw = await _service(ctx, "referrals", "GET", "/v1/kpis", params=params)
        else:
            raise gql_error("`source` is `clients` or `referrals`", "BAD_USER_INPUT")
        table = suppress(raw.get("group_by", group_by), raw.get("cells", []))
        ctx.entry(
            action="read_statistics", outcome="released", resource=source, detail={"group_by": group_by}
        )
        return StatisticsTable(
            source=source,
            group_by=list(table.group_by),
            cells=[
                StatCell(
                    dimensions=dict(c.dimensions),  # type: ignore[arg-type]
                    count=c.count,
                    suppressed=c.suppressed,
                )
                for c in table.cells
            ],
            total=table.total,
        )


async def _access_records(
    ctx: GatewayContext, where: Any, first: int | None, after: str | None
) -> Connection[AccessRecord]:
    """Audit records matching `where`, newest first; a cursor is a record's sequence number."""
    size = _limits(ctx, first)
    before = read_position_cursor("audit", after)
    query = sa.select(audit_log).where(where)
    if before is not None:
        query = query.where(audit_log.c.seq < before)
    query = query.order_by(audit_log.c.seq.desc()).limit(size + 1)
    async with ctx.runtime.db.engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    records = [
        (
            position_cursor("audit", r["seq"]),
            AccessRecord(
                seq=r["seq"],
                at=r["at"],
                actor=r["actor"],
                agency_id=r["agency_id"],
                purpose=r["purpose"],
                action=r["action"],
                outcome=r["outcome"],
                client_id=str(r["client_id"]) if r["client_id"] else None,
                released=list(r["released"]),
                withheld=r["withheld"],
                basis=r["basis"],
            ),
        )
        for r in rows[:size]
    ]
    return Connection.with_cursors(records, len(rows) > size)
