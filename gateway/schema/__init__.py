"""The public GraphQL schema: queries, mutations and subscriptions, with the abuse limits."""

from __future__ import annotations

from graphql import ASTValidationRule, GraphQLError
from strawberry import Schema
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxTokensLimiter,
    ParserCache,
    ValidationCache,
)
from strawberry.extensions.max_aliases import create_validator as alias_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule

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


# Distinct documents whose parse and validation are remembered (an LRU: unique queries from an
# abuser only churn it). Validation was ~40% of a request's CPU; clients send the same few documents.
DOCUMENT_CACHE_SIZE = 1000


def build_schema(limits: GatewayLimits | None = None) -> Schema:
    limits = limits or GatewayLimits()
    # The depth and alias rules are made ONCE per schema: the validation cache is keyed by the rule
    # classes, so rules made per request would never hit it. They depend on the document alone;
    # the cost limit depends on the variables (page sizes) too, so it is checked on every request.
    document_rules: list[type[ASTValidationRule]] = [
        depth_rule(limits.max_depth, None, None),
        alias_rule(limits.max_aliases),
    ]
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[
            GatewayExtension,
            # Factories, not instances: every request gets extensions of its own.
            lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
            lambda: ParserCache(maxsize=DOCUMENT_CACHE_SIZE),
            lambda: AddValidationRules(document_rules),
            lambda: ValidationCache(maxsize=DOCUMENT_CACHE_SIZE),
            lambda: CostLimiter(max_cost=limits.max_cost, default_page=limits.default_page_size),
            lambda: MaskErrors(should_mask_error=_unexpected),
        ],
    )
