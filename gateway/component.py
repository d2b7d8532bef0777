"""Composition root of the gateway."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog
from fastapi import APIRouter
from graphql import GraphQLError
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, MULTIPART_SUBSCRIPTION_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from gateway.audit import cli as audit_cli
from gateway.breakglass import on_break_glass_end
from gateway.context import ConnectionRefused, GatewayContext, get_context, open_connection
from gateway.limits import GatewayLimits
from gateway.persisted import PersistedQueries
from gateway.runtime import gateway_lifespan
from gateway.schema import build_schema
from passage.component import Command, Component
from passage.settings import Settings

log = structlog.get_logger(__name__)

# Subscriptions over graphql-transport-ws (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md)
# and HTTP multipart (`Accept: multipart/mixed;subscriptionSpec="1.0"`). The legacy `graphql-ws`
# protocol of subscriptions-transport-ws is unmaintained and not offered.
SUBSCRIPTION_PROTOCOLS = (GRAPHQL_TRANSPORT_WS_PROTOCOL, MULTIPART_SUBSCRIPTION_PROTOCOL)
WS_INIT_TIMEOUT = timedelta(seconds=10)  # no connection_init by then: closed with 4408
WS_MAX_SUBSCRIPTIONS = 20  # per connection
WS_FORBIDDEN = 4403  # the protocol's code for a refused connection_init
TOKEN_EXPIRED = "Token expired"  # noqa: S105 (a close reason, not a secret)
# A subscription ends itself (an UNAUTHENTICATED error, then `complete`) when the token expires;
# the socket is closed this long after, whatever is still open on it.
EXPIRY_CLOSE_GRACE_SECONDS = 1.0


class GatewayWebSocket(ASGIWebSocketAdapter):
    """Says why a connection was refused: strawberry closes a rejected `connection_init` with
    4403 "Forbidden"; the reason becomes "Forbidden: <CODE>: <message>" (within the 123 bytes a
    close frame allows)."""

    async def close(self, code: int, reason: str) -> None:
        refused = getattr(self.ws.state, "refused", None)
        if code == WS_FORBIDDEN and isinstance(refused, str):
            reason = refused
        await super().close(code, reason)


def _close_reason(text: str) -> str:
    return text.encode()[:123].decode(errors="ignore")


async def _close_at_expiry(websocket: WebSocket, expires_at: float) -> None:
    await asyncio.sleep(max(0.0, expires_at - time.time()) + EXPIRY_CLOSE_GRACE_SECONDS)
    if websocket.application_state is WebSocketState.CONNECTED:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close(code=WS_FORBIDDEN, reason=TOKEN_EXPIRED)


class GatewayRouter(GraphQLRouter[Any, None]):
    """Strawberry's router, with a time limit per operation, (optional) persisted queries, and
    graphql-transport-ws subscriptions authenticated at `connection_init` and closed when the
    token expires."""

    websocket_adapter_class = GatewayWebSocket

    def __init__(self, *args: Any, limits: GatewayLimits, **kwargs: Any) -> None:
        kwargs.setdefault("subscription_protocols", SUBSCRIPTION_PROTOCOLS)
        kwargs.setdefault("connection_init_wait_timeout", WS_INIT_TIMEOUT)
        kwargs.setdefault("max_subscriptions_per_connection", WS_MAX_SUBSCRIPTIONS)
        super().__init__(*args, **kwargs)
        self.limits = limits
        self.persisted = PersistedQueries(persisted_only=limits.persisted_only)

    async def on_ws_connect(self, context: Any) -> UnsetType | dict[str, object] | None:
        assert isinstance(context, GatewayContext)
        websocket = context.request
        assert isinstance(websocket, WebSocket)
        try:
            await open_connection(context)
        except ConnectionRefused as refused:
            websocket.state.refused = _close_reason(f"Forbidden: {refused.code}: {refused.message}")
            log.info("websocket_refused", code=refused.code, request_id=context.request_id)
            raise ConnectionRejectionError({"code": refused.code, "message": refused.message}) from None
        websocket.state.expiry = asyncio.create_task(_close_at_expiry(websocket, context.token_expires_at))
        return {"expiresAt": int(context.token_expires_at)}

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        try:
            return await super().run(request, context=context, root_value=root_value)
        finally:
            if self.is_websocket_request(request):
                expiry = getattr(request.state, "expiry", None)
                if expiry is not None:
                    expiry.cancel()

    async def parse_http_body(self, request: Any) -> Any:
        data = await super().parse_http_body(request)
        return self.persisted.resolve(data)

    async def execute_operation(self, *args: Any, **kwargs: Any) -> Any:
        context, data = kwargs.get("context"), kwargs.get("request_data")
        if isinstance(context, GatewayContext):
            # A subscription needs a streaming answer; the extension refuses one sent as a plain request.
            context.streaming = getattr(data, "protocol", "http") != "http"
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
