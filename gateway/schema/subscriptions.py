# mypy: disable-error-code="untyped-decorator,no-any-return"
"""Subscriptions: the caller's notifications (relaying the notifications service's SSE feed) and
updates of the referrals the caller's agency sent or received (ids and status only, from events).

Both are served over graphql-transport-ws (the connection authenticated at `connection_init`) and
over HTTP multipart. Starting one is audited durably (action `subscribe`, resource = its name)
before anything is sent; it ends with an UNAUTHENTICATED error when the caller's token expires.
The resolvers are plain coroutines returning the item stream, so that a refusal is the
operation's `error` message and the stream is live (and audited) before the first item.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator
from typing import TypeVar

import httpx
import strawberry
import structlog
from strawberry.types import Info

from gateway.context import GatewayContext
from gateway.errors import gql_error
from gateway.policy.roles import CASEWORK, AccessLevel, access_level
from gateway.referral_feed import MAX_PENDING, Listener, ReferralUpdate
from gateway.schema.types import Notification, from_json

log = structlog.get_logger(__name__)

Ctx = Info[GatewayContext, None]
T = TypeVar("T")


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Your new in-app notifications, as they arrive (no personal data: kind, resource "
        "reference, title). Pass `lastEventId` (a notification id) to resume after it."
    )
    async def notifications(
        self, info: Ctx, last_event_id: str | None = None
    ) -> AsyncGenerator[Notification, None]:
        ctx = info.context
        if last_event_id is not None and (len(last_event_id) > 64 or not last_event_id.isprintable()):
            raise gql_error("lastEventId is a notification id (at most 64 characters)", "BAD_USER_INPUT")
        await _start(ctx, "notifications")
        return _until_expiry(ctx, "notifications", _notification_feed(ctx, last_event_id))

    @strawberry.subscription(
        description="Status changes of referrals your agency sent or received (ids and status only). "
        "Purposes case_management, referral, follow_up."
    )
    async def referral_updates(self, info: Ctx) -> AsyncGenerator[ReferralUpdate, None]:
        ctx = info.context
        caller = ctx.require_caller()
        if caller.purpose.value not in CASEWORK:
            await _refuse(
                ctx,
                "referralUpdates",
                f"Referral updates are served for the purposes {', '.join(sorted(CASEWORK))}, "
                f"not '{caller.purpose.value}' (statistics are aggregates only)",
            )
        if access_level(caller.subject.roles, caller.subject.scopes) is AccessLevel.NONE:
            await _refuse(
                ctx, "referralUpdates", "Your role receives aggregate statistics only, no referral updates"
            )
        listener = await ctx.runtime.referral_feed.join(caller.subject.agency)
        await _start(ctx, "referralUpdates")
        return _until_expiry(ctx, "referralUpdates", _referral_updates(listener))


async def _start(ctx: GatewayContext, name: str) -> None:
    """The subscription's audit record, durable before its first item."""
    ctx.entry(
        action="subscribe",
        outcome="released",
        resource=name,
        detail={
            "transport": "graphql-transport-ws" if ctx.websocket else "http-multipart",
            "token_expires_at": int(ctx.token_expires_at),
        },
    )
    await ctx.write_audit()


async def _refuse(ctx: GatewayContext, name: str, message: str) -> None:
    ctx.entry(
        action="subscribe", outcome="refused", resource=name, detail={"code": "FORBIDDEN", "reason": message}
    )
    await ctx.write_audit()
    raise gql_error(message, "FORBIDDEN")


async def _end(ctx: GatewayContext, name: str, code: str, message: str) -> Exception:
    """Audit why a running subscription ended, and give the error that tells the subscriber."""
    ctx.entry(action="subscribe", outcome="ended", resource=name, detail={"code": code, "reason": message})
    await ctx.write_audit()
    return gql_error(message, code)


async def _until_expiry(
    ctx: GatewayContext, name: str, source: AsyncGenerator[T, None]
) -> AsyncGenerator[T, None]:
    """`source`, until the caller's token expires: then an UNAUTHENTICATED error ends it."""
    try:
        while True:
            remaining = ctx.token_expires_at - time.time()
            if remaining > 0:
                try:
                    item = await asyncio.wait_for(anext(source), remaining)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    pass
                else:
                    yield item
                    continue
            log.info("subscription_token_expired", subscription=name, request_id=ctx.request_id)
            raise await _end(
                ctx,
                name,
                "UNAUTHENTICATED",
                "Your token has expired, so this subscription has ended; subscribe again with a fresh token",
            )
    finally:
        await source.aclose()


# -- notifications ---------------------------------------------------------------------------------


async def _notification_feed(
    ctx: GatewayContext, last_event_id: str | None
) -> AsyncGenerator[Notification, None]:
    """The notifications service's SSE feed, as the caller (its token forwarded)."""
    caller = ctx.require_caller()
    http = ctx.runtime.services.as_caller["notifications"]
    headers = caller.headers() | {"Accept": "text/event-stream"}
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    try:
        async with http.stream("GET", "/v1/notifications/stream", headers=headers, timeout=None) as response:
            if response.status_code != 200:
                code = {401: "UNAUTHENTICATED", 403: "FORBIDDEN"}.get(
                    response.status_code, "SERVICE_UNAVAILABLE"
                )
                raise await _end(ctx, "notifications", code, f"notifications answered {response.status_code}")
            data: list[str] = []
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    data.append(line[5:].strip())
                elif not line and data:
                    body = json.loads("\n".join(data))
                    data = []
                    yield from_json(Notification, body)
    except httpx.HTTPError:
        raise await _end(
            ctx, "notifications", "SERVICE_UNAVAILABLE", "The notifications feed is not reachable"
        ) from None


# -- referral updates ------------------------------------------------------------------------------


async def _referral_updates(listener: Listener) -> AsyncGenerator[ReferralUpdate, None]:
    try:
        while True:
            update = await listener.queue.get()
            if listener.overflowed:
                raise gql_error(
                    f"More than {MAX_PENDING} referral updates were waiting for you, so this subscription "
                    "has ended; re-read your referrals and subscribe again",
                    "SERVICE_UNAVAILABLE",
                )
            yield update
    finally:
        listener.feed.leave(listener)
