# mypy: disable-error-code="untyped-decorator,no-any-return"
"""Relay cursor connections: `edges { cursor node }`, `pageInfo { hasNextPage endCursor }`.

The services page with opaque `next_cursor`s; a connection passes them through as `endCursor` (every
edge of a page shares the page's cursor: resume after the page, never inside it)."""

from __future__ import annotations

import base64
import binascii
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

    @classmethod
    def with_cursors(cls, pairs: list[tuple[str, NodeT]], has_next_page: bool) -> Connection[NodeT]:
        """A connection whose edges each carry their own cursor (resume after any of them)."""
        return cls(
            edges=[Edge(cursor=c, node=n) for c, n in pairs],
            page_info=PageInfo(has_next_page=has_next_page, end_cursor=pairs[-1][0] if pairs else None),
        )


def position_cursor(kind: str, position: int) -> str:
    """An opaque cursor for a position in an ordered list (`kind` keeps lists' cursors apart)."""
    return base64.urlsafe_b64encode(f"{kind}:{position}".encode()).decode().rstrip("=")


def read_position_cursor(kind: str, cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = raw.partition(":")
        if prefix != kind:
            raise ValueError(prefix)
        position = int(number)
        if position < 0:
            raise ValueError(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise gql_error(
            "`after` is not a cursor of this list: pass an `endCursor` this list returned",
            "BAD_USER_INPUT",
        ) from None
    return position


def page_size(first: int | None, *, default: int, maximum: int) -> int:
    if first is None:
        return default
    if first < 1 or first > maximum:
        raise gql_error(f"`first` must be between 1 and {maximum}", "BAD_USER_INPUT", limit="page_size")
    return first
