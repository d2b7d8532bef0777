"""The per-request GraphQL context: who calls, for which purpose, and the service clients."""

from __future__ import annotations

import structlog
from fastapi import Request
from strawberry.fastapi import BaseContext

from gateway.purpose import PURPOSE_HEADER, PURPOSES, PurposeOfUse
from gateway.services import Caller, ServiceClients
from passage.auth import TokenVerifier
from passage.errors import BadRequest, Unauthenticated


class GatewayContext(BaseContext):
    def __init__(self, caller: Caller | None, services: ServiceClients) -> None:
        super().__init__()
        self.caller = caller
        self.services = services

    def require_caller(self) -> Caller:
        if self.caller is None:
            raise Unauthenticated("Send an 'Authorization: Bearer <token>' header")
        return self.caller


def _is_graphiql_page(request: Request) -> bool:
    return (
        request.method == "GET"
        and "query" not in request.query_params
        and "text/html" in request.headers.get("accept", "")
    )


async def get_context(request: Request) -> GatewayContext:
    services: ServiceClients = request.app.state.services
    if _is_graphiql_page(request) and request.app.state.settings.is_dev:
        # The GraphiQL page itself carries no data; its queries come back with headers.
        return GatewayContext(None, services)
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Send an 'Authorization: Bearer <token>' header")
    verifier: TokenVerifier = request.app.state.token_verifier
    subject = await verifier.verify(token.strip())
    raw_purpose = request.headers.get(PURPOSE_HEADER)
    if not raw_purpose:
        raise BadRequest(f"Declare why you need the data in the {PURPOSE_HEADER} header: one of {PURPOSES}")
    try:
        purpose = PurposeOfUse(raw_purpose.strip())
    except ValueError:
        raise BadRequest(
            f"{PURPOSE_HEADER} {raw_purpose!r} is not a purpose of use; use one of {PURPOSES}"
        ) from None
    structlog.contextvars.bind_contextvars(agency=subject.agency, sub=subject.sub, purpose=purpose.value)
    request_id = structlog.contextvars.get_contextvars().get("request_id", "")
    return GatewayContext(Caller(subject=subject, purpose=purpose, request_id=request_id), services)
