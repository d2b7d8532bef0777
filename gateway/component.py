"""Composition root of the gateway."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import APIRouter
from strawberry.fastapi import GraphQLRouter

from gateway.context import get_context
from gateway.schema import schema
from gateway.services import service_clients
from passage.component import Component
from passage.settings import Settings


def graphql_routers(settings: Settings) -> Sequence[APIRouter]:
    router: GraphQLRouter[object, None] = GraphQLRouter(
        schema,
        path="/graphql",
        context_getter=get_context,
        graphql_ide="graphiql" if settings.is_dev else None,
    )
    return [router]


component = Component(
    name="gateway",
    title="Gateway",
    description="The one door for personal data: GraphQL, on behalf of the caller, for a declared purpose.",
    schema="gateway",
    migrations=Path(__file__).parent / "migrations",
    router_factory=graphql_routers,
    lifespan=service_clients,
)
