"""The per-request GraphQL context: who calls, for which purpose, its DataLoaders and policy facts,
and what the request must audit and report. Built fresh for every request (never module-level).

Authentication and purpose are checked here (`check_credentials`, one function for both doors),
but a refusal is not raised here: it is audited durably first, so that a forged token or a
spoofed purpose leaves a record too.

- HTTP: the headers are checked when the context is built; a refusal is audited and answered
  401/400/403 (`refuse_at_the_door`).
- WebSocket (graphql-transport-ws): a browser cannot set headers on a WebSocket, so the upgrade
  gets a context without a caller, and `open_connection` checks the `connection_init` payload (or
  the upgrade's headers) when it arrives; a refusal is audited and the socket closed with 4403.
  Every operation on the socket then runs in a context of its own (`for_operation`): fresh
  DataLoaders, facts and audit list, the connection's caller.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
import structlog
from fastapi import Request
from starlette.requests import HTTPConnection
from strawberry.fastapi import BaseContext

from gateway.audit.entry import AuditEntry
from gateway.audit.writer import AuditUnavailable
from gateway.errors import gql_error
from gateway.facts import PolicyFacts
from gateway.limits import TooManyRequests, read_body_within_limit
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
        websocket: bool = False,
    ) -> None:
        super().__init__()
        self.idempotency_key = idempotency_key
        self.writes = 0  # writes forwarded so far (each gets its own idempotency key)
        self.runtime = runtime
        self.caller = caller
        self.refusal = refusal
        self.request_id = request_id
        self.ide_page = ide_page
        self.websocket = websocket  # a graphql-transport-ws connection (or one operation on it)
        self.streaming = False  # an HTTP request answered as a stream (multipart subscription)
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
        self._written = 0  # how many of `audit` are durable already
        self.policy: list[dict[str, Any]] = []  # withheld paths, for extensions.policy
        self._expires_at: float | None = None

    def for_operation(self) -> GatewayContext:
        """A context of its own for one operation on a WebSocket connection: the connection's
        caller, fresh DataLoaders, policy facts and audit list (a long-lived socket must never
        answer from facts fetched for an earlier operation)."""
        ctx = GatewayContext(
            self.runtime,
            caller=self.caller,
            refusal=self.refusal,
            request_id=self.request_id,
            websocket=True,
        )
        ctx.request = self.request
        ctx.connection_params = self.connection_params
        return ctx

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

    @property
    def token_expires_at(self) -> float:
        """When the caller's token expires (epoch seconds): a subscription ends then. Read from
        the token the verifier has already accepted (its signature is not checked twice)."""
        if self._expires_at is None:
            claims = jwt.decode(self.subject.token, options={"verify_signature": False})
            self._expires_at = float(claims["exp"])
        return self._expires_at

    def token_expired(self) -> bool:
        return self.caller is not None and time.time() >= self.token_expires_at

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

    async def write_audit(self) -> None:
        """Make the entries recorded so far durable, now; each entry is written once (the
        operation's end writes only those recorded after). No audit record, no data: if the log
        cannot be written, the withheld paths are dropped and the operation is refused."""
        entries = self.audit[self._written :]
        self._written = len(self.audit)
        await self.write_durably(entries)

    async def write_durably(self, entries: list[AuditEntry]) -> None:
        try:
            await self.runtime.audit.write(entries)
        except AuditUnavailable:
            self.policy.clear()
            raise gql_error(
                "The audit log cannot be written right now; try again shortly", "SERVICE_UNAVAILABLE"
            ) from None


def _is_graphiql_page(request: Request) -> bool:
    return (
        request.method == "GET"
        and "query" not in request.query_params
        and "text/html" in request.headers.get("accept", "")
    )


async def get_context(connection: HTTPConnection) -> GatewayContext:
    runtime: GatewayRuntime = connection.app.state.gateway
    if connection.scope["type"] == "websocket":
        # The credentials come with `connection_init` (see `open_connection`), not with the upgrade.
        request_id = (connection.headers.get("x-request-id") or "").strip()[:128] or uuid.uuid4().hex
        return GatewayContext(runtime, caller=None, refusal=None, request_id=request_id, websocket=True)
    assert isinstance(connection, Request)
    request = connection
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


class ConnectionRefused(Exception):
    """A WebSocket's `connection_init` was refused (and audited); the socket is closed with 4403."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


WS_DOOR = "connection_init payload"


async def open_connection(ctx: GatewayContext) -> None:
    """graphql-transport-ws `connection_init`: the same checks as an HTTP request's headers, on
    `{"Authorization": "Bearer <jwt>", "X-Purpose-Of-Use": "<purpose>"}` in the payload (keys in
    any case), else on the upgrade request's headers (server-side clients). A refusal is audited
    durably (action `connect`) and raised as ConnectionRefused; on success the context holds the
    caller every operation on the socket acts as."""
    params = ctx.connection_params if isinstance(ctx.connection_params, dict) else {}
    headers = ctx.request.headers if ctx.request is not None else {}

    def pick(name: str) -> str | None:
        for key, value in params.items():
            if isinstance(key, str) and key.lower() == name.lower():
                return value if isinstance(value, str) else None
        value = headers.get(name)
        return str(value) if value is not None else None

    request_id = (pick("X-Request-ID") or "").strip()[:128]
    if request_id:
        ctx.request_id = request_id
    caller, refusal = await check_credentials(
        pick("Authorization") or "", pick(PURPOSE_HEADER), ctx.runtime.verifier, ctx.request_id, door=WS_DOOR
    )
    if refusal is not None:
        try:
            await ctx.runtime.audit.write([refusal_audit_entry(ctx, refusal, action="connect")])
        except AuditUnavailable:
            raise ConnectionRefused(
                "SERVICE_UNAVAILABLE", "The audit log cannot be written right now; try again shortly"
            ) from None
        raise ConnectionRefused(refusal.code, refusal.message)
    assert caller is not None
    try:
        ctx.runtime.rate_limiter.check(caller.subject.sub)
    except TooManyRequests as exc:
        raise ConnectionRefused("RATE_LIMITED", exc.detail) from None
    ctx.caller = caller
    structlog.get_logger(__name__).info(
        "websocket_connected", request_id=ctx.request_id, sub=caller.subject.sub, purpose=caller.purpose.value
    )


def refusal_audit_entry(ctx: GatewayContext, refusal: Refusal, *, action: str = "request") -> AuditEntry:
    detail: dict[str, Any] = {"code": refusal.code, "reason": refusal.message[:300]}
    if ctx.websocket:
        detail["transport"] = "graphql-transport-ws"
    return AuditEntry(
        actor=refusal.actor,
        agency_id=refusal.agency,
        roles=refusal.roles,
        purpose=refusal.purpose,
        action=action,
        outcome="refused",
        request_id=ctx.request_id,
        detail=detail,
    )


async def authenticate(
    request: Request, verifier: TokenVerifier, request_id: str
) -> tuple[Caller | None, Refusal | None]:
    return await check_credentials(
        request.headers.get("authorization", ""), request.headers.get(PURPOSE_HEADER), verifier, request_id
    )


def where(door: str) -> str:
    return "header" if door == "header" else f"entry of the {door}"


async def check_credentials(
    authorization: str,
    raw_purpose: str | None,
    verifier: TokenVerifier,
    request_id: str,
    *,
    door: str = "header",
) -> tuple[Caller | None, Refusal | None]:
    """Who calls and for which purpose, or why not: the one check behind both doors (HTTP headers,
    a WebSocket's connection_init payload). `door` only words the refusal messages."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None, Refusal(f"Send an 'Authorization: Bearer <token>' {where(door)}", "UNAUTHENTICATED")
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
    raw_purpose = (raw_purpose or "").strip()
    if not raw_purpose:
        return None, Refusal(
            f"Declare why you need the data in the {PURPOSE_HEADER} {where(door)}: one of {PURPOSES}",
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
