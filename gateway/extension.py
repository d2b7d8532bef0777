"""The gateway's hold on every operation: refuse (and audit) a request that failed authentication
or purpose, give every error a code, and let no response out before its audit records are durable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import structlog
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from gateway.audit.entry import AuditEntry
from gateway.audit.writer import AuditUnavailable
from gateway.context import GatewayContext, refusal_audit_entry
from gateway.errors import gql_error

log = structlog.get_logger(__name__)


class GatewayExtension(SchemaExtension):
    async def on_operation(self) -> AsyncIterator[None]:
        ctx = self.execution_context.context
        assert isinstance(ctx, GatewayContext)
        if ctx.refusal is not None and not ctx.ide_page:
            await self._durable(ctx, [refusal_audit_entry(ctx, ctx.refusal)])
            raise gql_error(ctx.refusal.message, ctx.refusal.code)
        if ctx.caller is None and not ctx.ide_page:
            raise gql_error("Send an 'Authorization: Bearer <token>' header", "UNAUTHENTICATED")
        try:
            yield
        except GraphQLError as refused:
            # Refused before execution by a limit (the cost limiter raises).
            _ensure_code(refused, "BAD_USER_INPUT")
            self._audit_refusal(ctx, [refused])
            await self._durable(ctx, ctx.audit)
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
        await self._durable(ctx, ctx.audit)

    @staticmethod
    def _audit_refusal(ctx: GatewayContext, errors: list[GraphQLError]) -> None:
        if not errors or ctx.caller is None or any(e.outcome == "refused" for e in ctx.audit):
            return
        codes = sorted({str((e.extensions or {}).get("code")) for e in errors})
        ctx.entry(
            action="request",
            outcome="refused",
            detail={"code": ",".join(codes), "reason": "; ".join(e.message for e in errors)[:500]},
        )

    async def _durable(self, ctx: GatewayContext, entries: list[AuditEntry]) -> None:
        try:
            await ctx.runtime.audit.write(entries)
        except AuditUnavailable:
            # No audit record, no data: the answer goes out without it.
            ctx.policy.clear()
            raise gql_error(
                "The audit log cannot be written right now; try again shortly", "SERVICE_UNAVAILABLE"
            ) from None

    def get_results(self) -> dict[str, Any]:
        ctx = self.execution_context.context
        out: dict[str, Any] = {}
        if isinstance(ctx, GatewayContext) and ctx.policy:
            out["policy"] = ctx.policy
        if isinstance(ctx, GatewayContext) and ctx.runtime.settings.is_dev and ctx.upstream.calls:
            # Dev only: the service calls this operation made (the bench counts DataLoader batching).
            out["upstream_calls"] = dict(ctx.upstream.calls)
        return out


def _ensure_code(error: GraphQLError, code: str) -> None:
    if error.extensions is None or "code" not in error.extensions:
        error.extensions = {**(error.extensions or {}), "code": code}
