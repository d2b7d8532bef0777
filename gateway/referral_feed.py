"""The referral updates a gateway process hears, fanned out to its `referralUpdates` subscribers."""

from __future__ import annotations

import asyncio
import collections
import json
import uuid
import weakref
from datetime import datetime

import strawberry
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from passage.bus.nats import subject

log = structlog.get_logger(__name__)

REFERRAL_EVENTS = "referrals.referral.*"
MAX_PENDING = 1000  # updates waiting for one slow subscriber; past this it is ended, not silently thinned


@strawberry.type(description="A referral your agency sent or received changed status.")
class ReferralUpdate:
    referral_id: strawberry.ID
    client_id: strawberry.ID
    status: str
    event_type: str = strawberry.field(description="e.g. `referrals.referral.accepted`")
    sending_agency_id: str
    receiving_agency_id: str
    occurred_at: datetime | None
    event_id: strawberry.ID | None = strawberry.field(description="The event's id (CloudEvents `id`).")


class Listener:
    """One subscriber's queue of updates for its agency."""

    def __init__(self, feed: ReferralFeed, agency: str) -> None:
        self.feed = feed
        self.agency = agency
        self.queue: asyncio.Queue[ReferralUpdate] = asyncio.Queue(maxsize=MAX_PENDING)
        self.overflowed = False

    def offer(self, update: ReferralUpdate) -> None:
        try:
            self.queue.put_nowait(update)
        except asyncio.QueueFull:
            self.overflowed = True


class ReferralFeed:
    """One core-NATS subscription to the referral events per process, fanned out to the
    subscribers of the agencies involved. A live feed, not a log: an event published while the
    gateway is disconnected from NATS is not replayed (clients re-read `referrals` on reconnect).
    Made once per process, in the gateway's lifespan (`GatewayRuntime.referral_feed`); it subscribes
    on the first `join`."""

    def __init__(self, nats: NATS, namespace: str) -> None:
        self._nats = nats
        self._namespace = namespace
        self._listeners: weakref.WeakSet[Listener] = weakref.WeakSet()
        self._seen: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._started = False
        self._lock = asyncio.Lock()

    async def join(self, agency: str) -> Listener:
        """A listener that hears every update published from now on (the subscription is
        registered with the server before this returns)."""
        async with self._lock:
            if not self._started:
                await self._nats.subscribe(subject(REFERRAL_EVENTS, self._namespace), cb=self._on_event)
                self._started = True
        await self._nats.flush(timeout=5)
        listener = Listener(self, agency)
        self._listeners.add(listener)
        return listener

    def leave(self, listener: Listener) -> None:
        self._listeners.discard(listener)

    async def _on_event(self, msg: Msg) -> None:
        headers = msg.headers or {}
        event_id = headers.get("ce-id") or ""
        if event_id:
            if event_id in self._seen:
                return  # published again by the outbox relay (at-least-once)
            self._seen[event_id] = None
            if len(self._seen) > 10_000:
                self._seen.popitem(last=False)
        try:
            body = json.loads(msg.data)
            update = ReferralUpdate(
                referral_id=strawberry.ID(str(uuid.UUID(str(body["referral_id"])))),
                client_id=strawberry.ID(str(uuid.UUID(str(body["client_id"])))),
                status=str(body["status"]),
                event_type=headers.get("ce-type") or msg.subject.removeprefix(f"{self._namespace}."),
                sending_agency_id=str(body["sending_agency_id"]),
                receiving_agency_id=str(body["receiving_agency_id"]),
                occurred_at=datetime.fromisoformat(body["occurred_at"]) if body.get("occurred_at") else None,
                event_id=strawberry.ID(event_id) if event_id else None,
            )
        except (ValueError, KeyError, TypeError):
            log.warning("referral_event_unreadable", subject=msg.subject)
            return
        involved = {update.sending_agency_id, update.receiving_agency_id}
        if body.get("previous_receiving_agency_id"):
            involved.add(str(body["previous_receiving_agency_id"]))  # a transfer away tells the old receiver
        for listener in list(self._listeners):
            if listener.agency in involved:
                listener.offer(update)
