"""GraphQL errors with the extension codes partner developers program against."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError

from gateway.services import UpstreamError

CODES = ("UNAUTHENTICATED", "FORBIDDEN", "BAD_USER_INPUT", "NOT_FOUND", "CONFLICT")


# The caller's errors (4xx in HTTP terms). They also carry `classification: "BAD_REQUEST"`, the
# class generic GraphQL tooling (schemathesis, graphql-java style clients) reads to tell a refused
# request from a server failure; SERVICE_UNAVAILABLE, TIMEOUT and INTERNAL_SERVER_ERROR do not.
CLIENT_CODES = frozenset(
    {"UNAUTHENTICATED", "FORBIDDEN", "BAD_USER_INPUT", "NOT_FOUND", "CONFLICT", "RATE_LIMITED"}
)


def gql_error(message: str, code: str, **extensions: Any) -> GraphQLError:
    if code in CLIENT_CODES:
        extensions.setdefault("classification", "BAD_REQUEST")
    return GraphQLError(message, extensions={"code": code, **extensions})


def from_upstream(exc: UpstreamError) -> GraphQLError:
    extra: dict[str, Any] = {"upstream_status": exc.status} if exc.status else {}
    if exc.errors:
        extra["errors"] = exc.errors
    if exc.reason:
        extra["reason"] = exc.reason
    return gql_error(str(exc), exc.code, **extra)
