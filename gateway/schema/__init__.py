"""The public GraphQL schema: queries, mutations and subscriptions, with the abuse limits."""

from __future__ import annotations

from graphql import GraphQLError
from strawberry import Schema
from strawberry.extensions import MaskErrors, MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter

from gateway.extension import GatewayExtension
from gateway.limits import CostLimiter, GatewayLimits
from gateway.schema.mutations import Mutation
from gateway.schema.queries import Query
from gateway.schema.subscriptions import Subscription


def _unexpected(error: GraphQLError) -> bool:
    # Errors we raised carry a code; anything else is a bug whose message must not leak.
    if error.extensions and "code" in error.extensions:
        return False
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


def build_schema(limits: GatewayLimits | None = None) -> Schema:
    limits = limits or GatewayLimits()
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[
            GatewayExtension,
            # Factories, not instances: every request gets extensions of its own.
            lambda: QueryDepthLimiter(max_depth=limits.max_depth),
            lambda: MaxAliasesLimiter(max_alias_count=limits.max_aliases),
            lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
            lambda: CostLimiter(max_cost=limits.max_cost, default_page=limits.default_page_size),
            lambda: MaskErrors(should_mask_error=_unexpected),
        ],
    )
