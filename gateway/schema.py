"""The public GraphQL schema. Today: the walking skeleton's `client(id)`; the full schema, the
policy decision point and the audit log come with the gateway issue."""

from __future__ import annotations

import uuid

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from gateway.context import GatewayContext
from gateway.services import UpstreamError


def _error(message: str, code: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


@strawberry.type(description="A person registered by an agency.")
class Client:
    id: strawberry.ID


@strawberry.type
class Query:
    @strawberry.field(  # type: ignore[untyped-decorator]
        description="One client. Until the policy decision point lands, only your own agency's."
    )
    async def client(self, info: Info[GatewayContext, None], id: strawberry.ID) -> Client | None:
        caller = info.context.require_caller()
        try:
            client_id = uuid.UUID(str(id))
        except ValueError:
            raise _error(f"{id!r} is not a client id (a UUID)", "BAD_USER_INPUT") from None
        try:
            record = await info.context.services.intake.get_client(caller, client_id)
        except UpstreamError as exc:
            raise _error(str(exc), "SERVICE_UNAVAILABLE") from None
        # Defence in depth: intake scopes to the caller's agency, and so does the gateway.
        if record is None or record.get("agency_id") != caller.subject.agency:
            raise _error(f"No client {client_id}", "NOT_FOUND")
        return Client(id=strawberry.ID(str(record["id"])))


schema = strawberry.Schema(query=Query)
