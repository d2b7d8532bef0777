# mypy: disable-error-code="untyped-decorator,no-any-return"
"""Relay cursor connections: `edges { cursor node }`, `pageInfo { hasNextPage endCursor }`.

The services page with opaque `next_cursor`s; a connection passes them through as `endCursor` (every
edge of a page shares the page's cursor: resume after the page, never inside it)."""

from __future__ import annotations

from typing import Generic, TypeVar

import strawberry

from gateway.errors import gql_error

NodeT = TypeVar("NodeT")


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[NodeT]):
    cursor: str | None
    node: NodeT


@strawberry.type
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    page_info: PageInfo

    @classmethod
    def of(cls, nodes: list[NodeT], next_cursor: str | None) -> Connection[NodeT]:
        return cls(
            edges=[Edge(cursor=next_cursor, node=n) for n in nodes],
            page_info=PageInfo(has_next_page=next_cursor is not None, end_cursor=next_cursor),
        )


def page_size(first: int | None, *, default: int, maximum: int) -> int:
    if first is None:
        return default
    if first < 1 or first > maximum:
        raise gql_error(f"`first` must be between 1 and {maximum}", "BAD_USER_INPUT", limit="page_size")
    return first
