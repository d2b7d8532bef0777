"""The gateway's hold on every operation: refuse (and audit) a request that failed authentication
or purpose, give every error a code, and let no response out before its audit records are durable.

Over a WebSocket (graphql-transport-ws) the connection was authenticated at `connection_init`;
each operation on it runs in a context of its own, only subscriptions are served, and none starts
once the token has expired."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import structlog
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from gateway.context import GatewayContext, refusal_audit_entry
from gateway.errors import gql_error
from gateway.limits import TooManyRequests

log = structlog.get_logger(__name__)

# An entry with one of these outcomes already tells how the operation ended.
_FINAL = frozenset({"refused", "ended"})

WS_SUBSCRIPTIONS_ONLY = (
    "Over WebSocket the gateway serves subscriptions only; send queries and mutations with HTTP POST /graphql"
)

SUBSCRIPTIONS_NEED_A_STREAM = (
    "A subscription needs a streaming transport: graphql-transport-ws on this URL, or HTTP POST "
    'with Accept: multipart/mixed;subscriptionSpec="1.0"'
)


class GatewayExtension(SchemaExtension):
    async def on_operation(self) -> AsyncIterator[None]:
        ctx = self.execution_context.context
        assert isinstance(ctx, GatewayContext)
        if ctx.websocket:
            # One context per operation on the socket (fresh facts, DataLoaders and audit list).
            ctx = ctx.for_operation()
            self.execution_context.context = ctx
        if ctx.refusal is not None and not ctx.ide_page:
            await ctx.write_durably([refusal_audit_entry(ctx, ctx.refusal)])
            raise gql_error(ctx.refusal.message, ctx.refusal.code)
        if ctx.caller is None and not ctx.ide_page:
            raise gql_error("Send an 'Authorization: Bearer <token>' header", "UNAUTHENTICATED")
        try:
            yield
        except GraphQLError as refused:
            # Refused before execution by a limit (the cost limiter raises).
            _ensure_code(refused, "BAD_USER_INPUT")
            self._audit_refusal(ctx, [refused])
            await ctx.write_audit()
            raise
        errors = list(self.execution_context.pre_execution_errors or [])
        for error in errors:
            # Validation: a depth, alias or token bomb, or a query that does not fit the schema.
            _ensure_code(error, "BAD_USER_INPUT")
        result = self.execution_context.result
        result_errors = list(getattr(result, "errors", None) or []) if result is not None else []
        for error in result_errors:
            _ensure_code(error, "INTERNAL_SERVER_ERROR")
        self._audit_refusal(ctx, errors or result_errors)
        await ctx.write_audit()

    async def on_execute(self) -> AsyncIterator[None]:
        ctx = self.execution_context.context
        subscription = self.execution_context.operation_type is OperationType.SUBSCRIPTION
        if isinstance(ctx, GatewayContext) and subscription and not (ctx.websocket or ctx.streaming):
            await _refuse(ctx, SUBSCRIPTIONS_NEED_A_STREAM, "BAD_USER_INPUT")
        if isinstance(ctx, GatewayContext) and ctx.websocket:
            # Raised here (not in on_operation) so that strawberry answers it as the operation's
            # error message instead of dropping the operation.
            if not subscription:
                await _refuse(ctx, WS_SUBSCRIPTIONS_ONLY, "BAD_USER_INPUT")
            if ctx.token_expired():
                await _refuse(ctx, "Your token has expired; reconnect with a fresh token", "UNAUTHENTICATED")
            try:
                ctx.runtime.rate_limiter.check(ctx.subject.sub)
            except TooManyRequests as exc:
                raise gql_error(exc.detail, "RATE_LIMITED") from None
        yield

    @staticmethod
    def _audit_refusal(ctx: GatewayContext, errors: list[GraphQLError]) -> None:
        if not errors or ctx.caller is None or any(e.outcome in _FINAL for e in ctx.audit):
            return
        codes = sorted({str((e.extensions or {}).get("code")) for e in errors})
        ctx.entry(
            action="request",
            outcome="refused",
            detail={"code": ",".join(codes), "reason": "; ".join(e.message for e in errors)[:500]},
        )

    def get_results(self) -> dict[str, Any]:
        ctx = self.execution_context.context
        out: dict[str, Any] = {}
        if isinstance(ctx, GatewayContext) and ctx.policy:
            out["policy"] = ctx.policy
        if isinstance(ctx, GatewayContext) and ctx.runtime.settings.is_dev and ctx.upstream.calls:
            # Dev only: the service calls this operation made (the bench counts DataLoader batching).
            out["upstream_calls"] = dict(ctx.upstream.calls)
        return out


async def _refuse(ctx: GatewayContext, message: str, code: str) -> None:
    """Audit the refusal durably, then raise it."""
    ctx.entry(action="request", outcome="refused", detail={"code": code, "reason": message[:300]})
    await ctx.write_audit()
    raise gql_error(message, code)


def _ensure_code(error: GraphQLError, code: str) -> None:
    if error.extensions is None or "code" not in error.extensions:
        error.extensions = {**(error.extensions or {}), "code": code}
