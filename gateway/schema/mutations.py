# mypy: disable-error-code="untyped-decorator,no-any-return"
"""Mutations: own-agency writes forward the caller's token (the service decides and verifies);
break-the-glass is the gateway's own."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from gateway.audit.entry import AuditEntry
from gateway.audit.tables import breakglass_grants
from gateway.audit.writer import append_entries
from gateway.breakglass import timers
from gateway.context import GatewayContext
from gateway.errors import gql_error
from gateway.policy.roles import supervisor_capable
from gateway.runtime import outbox
from gateway.schema.clients import Client, parse_id, release_client
from gateway.schema.queries import _on_behalf, _service
from gateway.schema.types import (
    Agreement,
    Assessment,
    AssessmentInput,
    Consent,
    ConsentInput,
    CreateReferralInput,
    DuplicateCandidate,
    MarkedRead,
    ProposeAgreementInput,
    Referral,
    ReferralAction,
    RegisterClientInput,
    UpdateClientInput,
    from_json,
    payload,
)
from passage.contracts.gateway import BreakGlassStarted

Ctx = Info[GatewayContext, None]
MAX_BREAK_GLASS_MINUTES = 60


@strawberry.type(description="An open emergency window on one client.")
class BreakGlassGrant:
    id: strawberry.ID
    client_id: strawberry.ID
    started_at: datetime
    expires_at: datetime


async def _write(ctx: GatewayContext, target: str, method: str, path: str, action: str, **kw: Any) -> Any:
    headers = {**kw.pop("headers", {}), **ctx.write_headers()}
    body = await _on_behalf(ctx, target, method, path, headers=headers, **kw)
    ctx.entry(action=action, outcome="recorded", resource=path)
    return body


@strawberry.type(description="The registered client, and records of your agency it may duplicate.")
class RegisterClientResult:
    client: Client
    duplicate_warning: list[DuplicateCandidate]


async def _client_result(ctx: GatewayContext, body: Any) -> Any:
    """A client written through the gateway, released (and audited) like any read of it."""
    record = dict(body) if isinstance(body, dict) else {}
    record.pop("duplicate_warning", None)
    return await release_client(ctx, record, parse_id(record.get("id")))


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Register a client in your agency.")
    async def register_client(self, info: Ctx, input: RegisterClientInput) -> RegisterClientResult:
        ctx = info.context
        body = await _write(ctx, "intake", "POST", "/v1/clients", "register_client", json=payload(input))
        warning = body.get("duplicate_warning") or [] if isinstance(body, dict) else []
        return RegisterClientResult(
            client=await _client_result(ctx, body),
            duplicate_warning=[from_json(DuplicateCandidate, w) for w in warning],
        )

    @strawberry.mutation(
        description="Change fields of your agency's client. `version` is the version you read (sent to "
        "intake as `If-Match`); a stale one is CONFLICT."
    )
    async def update_client(
        self, info: Ctx, id: strawberry.ID, version: int, input: UpdateClientInput
    ) -> Client:
        ctx = info.context
        cid = parse_id(id)
        body = await _write(
            ctx,
            "intake",
            "PATCH",
            f"/v1/clients/{cid}",
            "update_client",
            json=payload(input),
            headers={"If-Match": f'"{version}"'},
        )
        return await _client_result(ctx, body)

    @strawberry.mutation(description="Record a client's consent (FHIR Consent shaped).")
    async def grant_consent(self, info: Ctx, client_id: strawberry.ID, input: ConsentInput) -> Consent:
        cid = parse_id(client_id)
        body = await _write(
            info.context,
            "intake",
            "POST",
            f"/v1/clients/{cid}/consents",
            "grant_consent",
            json=payload(input),
        )
        return from_json(Consent, body)

    @strawberry.mutation(description="Withdraw a consent: it binds the very next request.")
    async def withdraw_consent(self, info: Ctx, consent_id: strawberry.ID, reason: str) -> Consent:
        kid = parse_id(consent_id, "consent")
        body = await _write(
            info.context,
            "intake",
            "POST",
            f"/v1/consents/{kid}/withdraw",
            "withdraw_consent",
            json={"reason": reason},
        )
        return from_json(Consent, body)

    @strawberry.mutation(description="Submit an assessment answer set for your agency's client.")
    async def submit_assessment(
        self, info: Ctx, client_id: strawberry.ID, input: AssessmentInput
    ) -> Assessment:
        cid = parse_id(client_id)
        body = await _write(
            info.context,
            "intake",
            "POST",
            f"/v1/clients/{cid}/assessments",
            "submit_assessment",
            json=payload(input),
        )
        return from_json(Assessment, body)

    @strawberry.mutation(description="Refer your agency's client to another agency's service.")
    async def create_referral(self, info: Ctx, input: CreateReferralInput) -> Referral:
        body = await _write(
            info.context, "referrals", "POST", "/v1/referrals", "create_referral", json=payload(input)
        )
        return from_json(Referral, body)

    @strawberry.mutation(
        description="accept, reject, start, complete (receiving agency) or cancel (sending agency) a "
        "referral, with a reason (reject, cancel) or an outcome (complete)."
    )
    async def transition_referral(
        self,
        info: Ctx,
        id: strawberry.ID,
        action: ReferralAction,
        reason: str | None = None,
        outcome: str | None = None,
        outcome_code: Annotated[
            str | None, strawberry.argument(description="successful or not_successful (complete)")
        ] = None,
    ) -> Referral:
        rid = parse_id(id, "referral")
        body: dict[str, Any] = {"to": action.value, "reason": reason, "outcome": outcome}
        if outcome_code is not None:
            body["outcome_code"] = outcome_code
        answer = await _write(
            info.context,
            "referrals",
            "POST",
            f"/v1/referrals/{rid}/transitions",
            "transition_referral",
            json=body,
        )
        return from_json(Referral, answer)

    @strawberry.mutation(
        description="Propose a data-sharing agreement (an agency_admin of a party; a coordinator for the "
        "network side). Your agency signs by proposing; it is in force once every party has signed."
    )
    async def propose_agreement(self, info: Ctx, input: ProposeAgreementInput) -> Agreement:
        body = await _write(
            info.context, "referrals", "POST", "/v1/agreements", "propose_agreement", json=payload(input)
        )
        return from_json(Agreement, body)

    @strawberry.mutation(
        description="Sign an agreement as the other party's agency_admin; it takes effect once every "
        "party has signed."
    )
    async def sign_agreement(self, info: Ctx, id: strawberry.ID) -> Agreement:
        ctx = info.context
        aid = parse_id(id, "agreement")
        body = await _write(ctx, "referrals", "POST", f"/v1/agreements/{aid}/sign", "sign_agreement")
        if isinstance(body, dict):
            ctx.runtime.cache.drop_agreements(str(p) for p in body.get("parties", []))
        return from_json(Agreement, body)

    @strawberry.mutation(description="Mark your notifications read (all of them when `ids` is null).")
    async def mark_notifications_read(self, info: Ctx, ids: list[strawberry.ID] | None = None) -> MarkedRead:
        body = {"ids": [str(parse_id(i, "notification")) for i in ids]} if ids is not None else {}
        answer = await _on_behalf(info.context, "notifications", "POST", "/v1/notifications/read", json=body)
        return from_json(MarkedRead, answer)

    @strawberry.mutation(
        description="Emergency access (life at risk) to one client for at most 60 minutes; supervisors only. "
        "Audited at start and end; your agency's data protection officer is told."
    )
    async def break_glass(
        self, info: Ctx, client_id: strawberry.ID, reason: str, minutes: int
    ) -> BreakGlassGrant:
        ctx = info.context
        caller = ctx.require_caller()
        cid = parse_id(client_id)
        if not supervisor_capable(caller.subject.roles):
            ctx.entry(
                action="breakglass.refused", outcome="refused", client_id=cid, detail={"code": "FORBIDDEN"}
            )
            raise gql_error("Only supervisor-capable roles may break the glass", "FORBIDDEN")
        if caller.purpose.value != "emergency":
            raise gql_error("Break the glass under the purpose `emergency`", "BAD_USER_INPUT")
        reason = reason.strip()
        if len(reason) < 10 or len(reason) > 1000 or any(ord(ch) < 32 and ch not in "\n\t" for ch in reason):
            raise gql_error(
                "Write the reason (10 to 1000 characters, no control characters)", "BAD_USER_INPUT"
            )
        if not 1 <= minutes <= MAX_BREAK_GLASS_MINUTES:
            raise gql_error(f"`minutes` is between 1 and {MAX_BREAK_GLASS_MINUTES}", "BAD_USER_INPUT")
        record = await _service(ctx, "intake", "GET", f"/v1/clients/{cid}")
        now = datetime.now(UTC)
        grant_id = uuid.uuid4()
        expires = now + timedelta(minutes=minutes)
        start = AuditEntry(
            actor=caller.subject.sub,
            agency_id=caller.subject.agency,
            roles=tuple(sorted(caller.subject.roles)),
            purpose="emergency",
            action="breakglass.started",
            outcome="recorded",
            request_id=ctx.request_id,
            client_id=cid,
            basis={"rule": "break_glass", "grant_id": str(grant_id)},
            detail={"reason": reason, "minutes": minutes, "expires_at": expires.isoformat()},
        )
        # Grant, its audit record, the end timer and the event: one transaction.
        async with ctx.runtime.db.sessionmaker.begin() as session:
            await session.execute(
                breakglass_grants.insert().values(
                    id=grant_id,
                    client_id=cid,
                    client_agency_id=str(record.get("agency_id", "")),
                    actor=caller.subject.sub,
                    agency_id=caller.subject.agency,
                    reason=reason,
                    minutes=minutes,
                    started_at=now,
                    expires_at=expires,
                )
            )
            await append_entries(await session.connection(), [start])
            await timers.schedule(
                session, kind="breakglass_end", key=str(grant_id), due_at=expires, payload={}
            )
            await outbox.add(
                session,
                BreakGlassStarted(
                    grant_id=grant_id,
                    client_id=cid,
                    agency_id=caller.subject.agency,
                    actor=caller.subject.sub,
                    started_at=now,
                    expires_at=expires,
                ),
                subject=f"client/{cid}",
            )
        return BreakGlassGrant(
            id=strawberry.ID(str(grant_id)),
            client_id=strawberry.ID(str(cid)),
            started_at=now,
            expires_at=expires,
        )
