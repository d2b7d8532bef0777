"""Abuse limits: request body size, per-client rate, query cost (depth, aliases and tokens are
strawberry's own validators, configured in schema.py), page size and execution time."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, ClassVar

from fastapi import Request
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from strawberry.extensions import SchemaExtension

from passage.errors import PassageError


class GatewayLimits(BaseSettings):
    """`PASSAGE_GATEWAY_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="PASSAGE_GATEWAY_", extra="ignore")

    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    max_depth: int = Field(default=8, ge=2)
    max_aliases: int = Field(default=15, ge=1)
    max_tokens: int = Field(default=2000, ge=50)
    max_cost: int = Field(default=5000, ge=10)
    max_page_size: int = Field(default=100, ge=1, le=500)
    default_page_size: int = Field(default=20, ge=1, le=500)
    timeout_seconds: float = Field(default=10.0, gt=0)
    rate_per_second: float = Field(default=50.0, gt=0)
    rate_burst: int = Field(default=100, ge=1)
    persisted_only: bool = False  # production switch: accept only registered persisted queries
    policy_cache_ttl_seconds: float = Field(default=30.0, ge=0)
    field_labels_refresh_seconds: float = Field(default=300.0, gt=0)


class PayloadTooLarge(PassageError):
    status_code, slug, title = 413, "payload-too-large", "Request body too large"


class TooManyRequests(PassageError):
    status_code, slug, title = 429, "rate-limited", "Too many requests"


async def read_body_within_limit(request: Request, limit: int) -> None:
    """Refuse a body over `limit` without reading more than `limit` bytes of it."""
    if request.method != "POST":
        return
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The request body is over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The request body is over {limit} bytes")
        chunks.append(chunk)
    # Starlette keeps the body it read; strawberry reads it from there.
    request._body = b"".join(chunks)


class RateLimiter:
    """A token bucket per client id (the token's `sub`: a person or a partner system's client)."""

    def __init__(self, rate: float, burst: int, *, max_clients: int = 100_000) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._max_clients = max_clients

    def check(self, client_id: str) -> None:
        now = time.monotonic()
        tokens, last = self._buckets.get(client_id, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        if tokens < 1.0:
            wait = math.ceil((1.0 - tokens) / self._rate)
            raise TooManyRequests(
                f"Slow down: at most {self._rate:g} requests per second per client",
                headers={"Retry-After": str(max(1, wait))},
            )
        if len(self._buckets) >= self._max_clients and client_id not in self._buckets:
            self._buckets.clear()  # crude bound on memory; a refill for everyone is harmless
        self._buckets[client_id] = (tokens - 1.0, now)


# -- query cost --------------------------------------------------------------------------------
PAGE_ARGUMENTS = ("first", "limit", "perPage")


def _page_argument(node: FieldNode, variables: dict[str, Any], default: int) -> int | None:
    for argument in node.arguments or ():
        if argument.name.value in PAGE_ARGUMENTS:
            value = argument.value
            if isinstance(value, IntValueNode):
                return int(value.value)
            if isinstance(value, VariableNode):
                raw = variables.get(value.name.value)
                return int(raw) if isinstance(raw, int) else default
    return None


def _selections(
    selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode], seen: frozenset[str]
) -> Iterator[FieldNode]:
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _selections(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in seen:
                yield from _selections(fragments[name].selection_set, fragments, seen | {name})


def query_cost(
    document: DocumentNode,
    variables: dict[str, Any] | None,
    *,
    default_page: int,
    operation: str | None = None,
) -> int:
    """Every field costs 1; a field taking a page size multiplies what is beneath it by that size."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    variables = variables or {}

    def cost(selection_set: SelectionSetNode | None, seen: frozenset[str]) -> int:
        total = 0
        for node in _selections(selection_set, fragments, seen):
            if node.name.value.startswith("__"):
                continue
            size = _page_argument(node, variables, default_page)
            inner = cost(node.selection_set, seen)
            total += 1 + (max(size, 1) * inner if size is not None else inner)
        return total

    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation:
        operations = [o for o in operations if o.name and o.name.value == operation] or operations
    return sum(cost(op.selection_set, frozenset()) for op in operations)


class CostLimiter(SchemaExtension):
    """Refuses, before execution, an operation whose cost is above the limit."""

    def __init__(self, *, max_cost: int, default_page: int) -> None:
        self.max_cost = max_cost
        self.default_page = default_page

    # (query text, operation, the integer variables) -> cost: what the cost depends on, no more.
    _costs: ClassVar[OrderedDict[tuple[Any, ...], int]] = OrderedDict()
    MAX_REMEMBERED: ClassVar[int] = 1000

    def _cost(self) -> int:
        ctx = self.execution_context
        assert ctx.graphql_document is not None
        variables = ctx.variables or {}
        key = (
            ctx.query,
            ctx.operation_name,
            self.default_page,
            tuple(sorted((k, v) for k, v in variables.items() if isinstance(v, int))),
        )
        known = self._costs.get(key) if isinstance(ctx.query, str) else None
        if known is not None:
            return known
        cost = query_cost(
            ctx.graphql_document, variables, default_page=self.default_page, operation=ctx.operation_name
        )
        if isinstance(ctx.query, str):
            self._costs[key] = cost
            while len(self._costs) > self.MAX_REMEMBERED:
                self._costs.popitem(last=False)
        return cost

    def on_validate(self) -> Iterator[None]:
        # The document is parsed by now; refusing here (by raising) means it never executes.
        ctx = self.execution_context
        if ctx.graphql_document is not None:
            cost = self._cost()
            if cost > self.max_cost:
                raise GraphQLError(
                    f"The query would cost {cost}, over the limit of {self.max_cost}: "
                    "ask for fewer fields or smaller pages",
                    extensions={"code": "BAD_USER_INPUT", "limit": "cost", "cost": cost},
                )
        yield
