# mypy: disable-error-code="untyped-decorator,no-any-return"
"""Subscriptions: the caller's notifications (relaying the notifications service's SSE feed) and
updates of the referrals the caller's agency sent or received (ids and status only, from events)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from typing import Any

import httpx
import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from gateway.context import GatewayContext
from gateway.errors import gql_error
from passage.bus.nats import subject

Ctx = Info[GatewayContext, None]


@strawberry.type
class ReferralUpdate:
    referral_id: strawberry.ID
    client_id: strawberry.ID
    status: str
    event_type: str
    sending_agency_id: str
    receiving_agency_id: str


@strawberry.type
class Subscription:
    @strawberry.subscription(description="Your new in-app notifications, as they arrive.")
    async def notifications(self, info: Ctx, last_event_id: str | None = None) -> AsyncGenerator[JSON, None]:
        ctx = info.context
        caller = ctx.require_caller()
        http = ctx.runtime.services.as_caller["notifications"]
        headers = caller.headers() | {"Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        try:
            async with http.stream(
                "GET", "/v1/notifications/stream", headers=headers, timeout=None
            ) as response:
                if response.status_code != 200:
                    raise gql_error(f"notifications answered {response.status_code}", "SERVICE_UNAVAILABLE")
                data: list[str] = []
                async for line in response.aiter_lines():
                    if line.startswith("data:"):
                        data.append(line[5:].strip())
                    elif not line and data:
                        yield json.loads("\n".join(data))
                        data = []
        except httpx.HTTPError:
            raise gql_error("The notifications feed is not reachable", "SERVICE_UNAVAILABLE") from None

    @strawberry.subscription(description="Status changes of referrals your agency sent or received.")
    async def referral_updates(self, info: Ctx) -> AsyncGenerator[ReferralUpdate, None]:
        ctx = info.context
        agency = ctx.require_caller().subject.agency
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)

        async def on_event(msg: Any) -> None:
            try:
                body = json.loads(msg.data)
            except ValueError:
                return
            if agency in (body.get("sending_agency_id"), body.get("receiving_agency_id")):
                body["event_type"] = msg.subject.rsplit("referrals.", 1)[-1]
                if not queue.full():
                    queue.put_nowait(body)

        sub = await ctx.runtime.nats.subscribe(
            subject("referrals.referral.*", ctx.runtime.settings.nats_namespace), cb=on_event
        )
        try:
            while True:
                body = await queue.get()
                yield ReferralUpdate(
                    referral_id=strawberry.ID(str(body.get("referral_id"))),
                    client_id=strawberry.ID(str(body.get("client_id"))),
                    status=str(body.get("status")),
                    event_type=f"referrals.{body['event_type']}",
                    sending_agency_id=str(body.get("sending_agency_id")),
                    receiving_agency_id=str(body.get("receiving_agency_id")),
                )
        finally:
            await sub.unsubscribe()
