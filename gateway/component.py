"""Composition root of the gateway."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from graphql import GraphQLError
from strawberry.fastapi import GraphQLRouter
from strawberry.types import ExecutionResult

from gateway.audit import cli as audit_cli
from gateway.breakglass import on_break_glass_end
from gateway.context import get_context
from gateway.limits import GatewayLimits
from gateway.persisted import PersistedQueries
from gateway.runtime import gateway_lifespan
from gateway.schema import build_schema
from passage.component import Command, Component
from passage.settings import Settings


class GatewayRouter(GraphQLRouter[Any, None]):
    """Strawberry's router, with a time limit per operation and (optional) persisted queries."""

    def __init__(self, *args: Any, limits: GatewayLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self.persisted = PersistedQueries(persisted_only=limits.persisted_only)

    async def parse_http_body(self, request: Any) -> Any:
        data = await super().parse_http_body(request)
        return self.persisted.resolve(data)

    async def execute_operation(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.wait_for(
                super().execute_operation(*args, **kwargs), self.limits.timeout_seconds
            )
        except TimeoutError:
            error = GraphQLError(
                "The operation took too long and was stopped", extensions={"code": "TIMEOUT"}
            )
            return ExecutionResult(data=None, errors=[error])


def graphql_routers(settings: Settings) -> Sequence[APIRouter]:
    limits = GatewayLimits()
    router = GatewayRouter(
        build_schema(limits),
        path="/graphql",
        context_getter=get_context,
        graphql_ide="graphiql" if settings.is_dev else None,
        limits=limits,
    )
    return [router]


component = Component(
    name="gateway",
    title="Gateway",
    description="The one door for personal data: GraphQL, on behalf of the caller, for a declared purpose.",
    schema="gateway",
    migrations=Path(__file__).parent / "migrations",
    router_factory=graphql_routers,
    lifespan=gateway_lifespan,
    timers={"breakglass_end": on_break_glass_end},
    commands=[
        Command(
            name="audit",
            help="check the gateway's audit log for edited or removed records",
            configure=audit_cli.configure,
            run=audit_cli.run,
        )
    ],
)
