"""The per-request GraphQL context: who calls, for which purpose, its DataLoaders and policy facts,
and what the request must audit and report. Built fresh for every request (never module-level).

Authentication and purpose are checked here, but a refusal is not raised here: it is kept on the
context and raised by the gateway extension once it has been audited, so that a forged token or
a spoofed purpose leaves a record too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import Request
from strawberry.fastapi import BaseContext

from gateway.audit.entry import AuditEntry
from gateway.audit.writer import AuditUnavailable
from gateway.facts import PolicyFacts
from gateway.limits import read_body_within_limit
from gateway.policy.pdp import Requester
from gateway.policy.roles import purposes_for
from gateway.purpose import PURPOSE_HEADER, PURPOSES, PurposeOfUse
from gateway.runtime import GatewayRuntime
from gateway.services import Caller, Upstream
from passage.auth import AuthSubject, TokenVerifier
from passage.errors import BadRequest, Forbidden, PassageError, ServiceUnavailable, Unauthenticated


@dataclass(frozen=True)
class Refusal:
    message: str
    code: str  # UNAUTHENTICATED, BAD_USER_INPUT, FORBIDDEN
    actor: str = "anonymous"
    agency: str = "unknown"
    roles: tuple[str, ...] = ()
    purpose: str | None = None


class GatewayContext(BaseContext):
    def __init__(
        self,
        runtime: GatewayRuntime,
        *,
        caller: Caller | None,
        refusal: Refusal | None,
        request_id: str,
        ide_page: bool = False,
        idempotency_key: str | None = None,
    ) -> None:
        super().__init__()
        self.idempotency_key = idempotency_key
        self.writes = 0  # writes forwarded so far (each gets its own idempotency key)
        self.runtime = runtime
        self.caller = caller
        self.refusal = refusal
        self.request_id = request_id
        self.ide_page = ide_page
        self.upstream = Upstream(runtime.services, caller)
        self.requester = (
            Requester(
                sub=caller.subject.sub,
                agency=caller.subject.agency,
                roles=caller.subject.roles,
                purpose=caller.purpose.value,
                scopes=caller.subject.scopes,
            )
            if caller
            else None
        )
        self.facts = PolicyFacts(self.upstream, runtime.cache, runtime.db.engine, self.requester)
        self.audit: list[AuditEntry] = []
        self.policy: list[dict[str, Any]] = []  # withheld paths, for extensions.policy

    def write_headers(self) -> dict[str, str]:
        """Headers of the next write: the caller's `Idempotency-Key`, forwarded (a second write in
        the same operation gets `<key>:2`, and so on, so that two writes never share a key)."""
        self.writes += 1
        if not self.idempotency_key:
            return {}
        key = self.idempotency_key if self.writes == 1 else f"{self.idempotency_key}:{self.writes}"
        return {"Idempotency-Key": key}

    def require_caller(self) -> Caller:
        assert self.caller is not None, "the gateway extension refuses requests without a caller"
        return self.caller

    @property
    def subject(self) -> AuthSubject:
        return self.require_caller().subject

    def entry(self, *, action: str, outcome: str, **fields: Any) -> AuditEntry:
        caller = self.require_caller()
        record = AuditEntry(
            actor=caller.subject.sub,
            agency_id=caller.subject.agency,
            roles=tuple(sorted(caller.subject.roles)),
            purpose=caller.purpose.value,
            action=action,
            outcome=outcome,
            request_id=self.request_id,
            **fields,
        )
        self.audit.append(record)
        return record


def _is_graphiql_page(request: Request) -> bool:
    return (
        request.method == "GET"
        and "query" not in request.query_params
        and "text/html" in request.headers.get("accept", "")
    )


async def get_context(request: Request) -> GatewayContext:
    runtime: GatewayRuntime = request.app.state.gateway
    request_id = str(structlog.contextvars.get_contextvars().get("request_id", ""))
    if _is_graphiql_page(request) and runtime.settings.is_dev:
        # The GraphiQL page itself carries no data; its queries come back with headers.
        return GatewayContext(runtime, caller=None, refusal=None, request_id=request_id, ide_page=True)
    await read_body_within_limit(request, runtime.limits.max_body_bytes)
    caller, refusal = await authenticate(request, runtime.verifier, request_id)
    key = (request.headers.get("idempotency-key") or "").strip() or None
    context = GatewayContext(
        runtime, caller=caller, refusal=refusal, request_id=request_id, idempotency_key=key
    )
    if refusal is not None:
        await refuse_at_the_door(context, refusal)
    if caller is not None:
        runtime.rate_limiter.check(caller.subject.sub)
    return context


_DOOR_ERRORS: dict[str, tuple[type[PassageError], str]] = {
    "UNAUTHENTICATED": (Unauthenticated, "Authorization"),
    "BAD_USER_INPUT": (BadRequest, PURPOSE_HEADER),
    "FORBIDDEN": (Forbidden, PURPOSE_HEADER),
}


async def refuse_at_the_door(context: GatewayContext, refusal: Refusal) -> None:
    """A request without a valid token (401) or a purpose it may declare (400/403) never reaches
    GraphQL: it is audited durably, then answered with an HTTP status a plain HTTP client acts on.

    The problem+json body also carries GraphQL's `data: null` and `errors[].extensions.code`, so a
    GraphQL client reads the same refusal the way it reads any other.
    """
    try:
        await context.runtime.audit.write([refusal_audit_entry(context, refusal)])
    except AuditUnavailable:
        raise ServiceUnavailable(
            "The audit log cannot be written right now; try again shortly", headers={"Retry-After": "2"}
        ) from None
    error_class, field = _DOOR_ERRORS.get(refusal.code, (BadRequest, PURPOSE_HEADER))
    raise error_class(
        refusal.message,
        errors=[
            {
                "field": field,
                "message": refusal.message,
                "code": refusal.code,
                "extensions": {"code": refusal.code},
            }
        ],
        data=None,
    )


def refusal_audit_entry(ctx: GatewayContext, refusal: Refusal) -> AuditEntry:
    return AuditEntry(
        actor=refusal.actor,
        agency_id=refusal.agency,
        roles=refusal.roles,
        purpose=refusal.purpose,
        action="request",
        outcome="refused",
        request_id=ctx.request_id,
        detail={"code": refusal.code, "reason": refusal.message[:300]},
    )


async def authenticate(
    request: Request, verifier: TokenVerifier, request_id: str
) -> tuple[Caller | None, Refusal | None]:
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None, Refusal("Send an 'Authorization: Bearer <token>' header", "UNAUTHENTICATED")
    try:
        subject = await verifier.verify(token.strip())
    except PassageError as exc:
        if exc.status_code >= 500:
            raise
        return None, Refusal(exc.detail, "UNAUTHENTICATED")
    who: dict[str, Any] = {
        "actor": subject.sub,
        "agency": subject.agency,
        "roles": tuple(sorted(subject.roles)),
    }
    raw_purpose = (request.headers.get(PURPOSE_HEADER) or "").strip()
    if not raw_purpose:
        return None, Refusal(
            f"Declare why you need the data in the {PURPOSE_HEADER} header: one of {PURPOSES}",
            "BAD_USER_INPUT",
            **who,
        )
    try:
        purpose = PurposeOfUse(raw_purpose)
    except ValueError:
        return None, Refusal(
            f"{PURPOSE_HEADER} {raw_purpose[:40]!r} is not a purpose of use; use one of {PURPOSES}",
            "BAD_USER_INPUT",
            **who,
        )
    allowed = purposes_for(subject.roles)
    if purpose.value not in allowed:
        shown = ", ".join(sorted(allowed)) or "none"
        return None, Refusal(
            f"The purpose '{purpose.value}' is not allowed for your roles (allowed: {shown})",
            "FORBIDDEN",
            purpose=purpose.value,
            **who,
        )
    structlog.contextvars.bind_contextvars(agency=subject.agency, sub=subject.sub, purpose=purpose.value)
    return Caller(subject=subject, purpose=purpose, request_id=request_id), None
