"""Durable JetStream pull consumers with an inbox: at-least-once delivery, effects applied once.

For each message: in one transaction, record the event id in the component's inbox and run
the handler; commit; then ack. A redelivered event finds its id in the inbox and is only
acked. A handler that keeps failing is parked in the inbox with its error after
`consumer_max_deliver` tries, never silently dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError
from sqlalchemy.dialects.postgresql import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from passage import metrics
from passage.bus.envelope import CloudEvent
from passage.bus.nats import ensure_stream, stream_name, subject
from passage.bus.tables import bus_tables
from passage.db import Database
from passage.faults import fault_point
from passage.settings import Settings

log = structlog.get_logger(__name__)

Handler = Callable[[AsyncSession, CloudEvent], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    """What a component hears from one other component's stream, and how it reacts."""

    source: str  # the publishing component, e.g. "intake"
    handlers: Mapping[str, Handler]  # event type -> handler


class PoisonEvent(Exception):
    """The event can never be handled (malformed); park it at once instead of retrying."""


class EventConsumer:
    def __init__(
        self,
        *,
        component: str,
        subscription: Subscription,
        db: Database,
        js: JetStreamContext,
        settings: Settings,
        schema: str,
    ) -> None:
        self.name = component  # durable name: one per component and stream
        self._component = component
        self._subscription = subscription
        self._db = db
        self._js = js
        self._settings = settings
        self._inbox = bus_tables(schema).inbox
        self._stopping = asyncio.Event()
        self._subs: list[JetStreamContext.PullSubscription] = []

    @property
    def stream(self) -> str:
        return stream_name(self._subscription.source, self._settings.nats_namespace)

    async def start(self) -> None:
        await ensure_stream(self._js, self._subscription.source, self._settings)
        config = ConsumerConfig(
            durable_name=self.name,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self._settings.consumer_ack_wait_seconds,
            max_ack_pending=1000,
            filter_subjects=sorted(
                subject(t, self._settings.nats_namespace) for t in self._subscription.handlers
            ),
        )
        await self._js.add_consumer(self.stream, config)
        # Several pullers on one durable consumer: events are handled side by side (each still
        # applied once, through the inbox). Order across events was never promised: a retry
        # reorders them anyway.
        for _ in range(self._settings.consumer_concurrency):
            self._subs.append(await self._js.pull_subscribe_bind(durable=self.name, stream=self.stream))

    async def run(self) -> None:
        assert self._subs, "start() first"
        await asyncio.gather(*(self._pull(sub) for sub in self._subs))

    async def _pull(self, sub: JetStreamContext.PullSubscription) -> None:
        while not self._stopping.is_set():
            try:
                # One message per pull: a pull for many waits until the batch fills or the
                # pull expires, which would hold a lone event back for the whole wait.
                messages = await sub.fetch(batch=1, timeout=2.0)
            except TimeoutError:
                continue
            except Exception as exc:
                if self._stopping.is_set():
                    break
                log.warning("consumer_fetch_failed", consumer=self.name, stream=self.stream, error=str(exc))
                await asyncio.sleep(0.5)
                continue
            for msg in messages:
                try:
                    await self.handle(msg)
                except Exception as exc:
                    # Parking or acking failed (database or NATS away): the message was not
                    # acked, so JetStream redelivers it after ack_wait. The puller lives on.
                    log.warning("consumer_handle_failed", consumer=self.name, error=str(exc))
                    await asyncio.sleep(0.5)

    def stop(self) -> None:
        self._stopping.set()

    async def close(self) -> None:
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._subs.clear()

    async def handle(self, msg: Msg) -> None:
        try:
            event = CloudEvent.from_message(msg.headers, msg.data)
        except ValueError as exc:
            log.error("consumer_malformed_message", consumer=self.name, subject=msg.subject, error=str(exc))
            metrics.EVENTS_CONSUMED.labels(self._component, self.name, "parked").inc()
            await msg.term()
            return
        handler = self._subscription.handlers.get(event.type)
        if handler is None:
            metrics.EVENTS_CONSUMED.labels(self._component, self.name, "ignored").inc()
            await msg.ack()
            return
        try:
            applied = await self._apply(event, handler)
        except Exception as exc:
            await self._failed(msg, event, exc)
            return
        fault_point("consumer.after_commit")
        await msg.ack()
        outcome = "applied" if applied else "duplicate"
        metrics.EVENTS_CONSUMED.labels(self._component, self.name, outcome).inc()
        if applied:
            lag = (datetime.now(UTC) - event.time).total_seconds()
            metrics.EVENT_LAG.labels(self._component, self.name).observe(max(lag, 0.0))

    async def _apply(self, event: CloudEvent, handler: Handler) -> bool:
        async with self._db.sessionmaker() as session, session.begin():
            claimed = await session.exec(
                insert(self._inbox)
                .values(consumer=self.name, event_id=event.id, event_type=event.type)
                .on_conflict_do_nothing()
                .returning(self._inbox.c.event_id)
            )
            if claimed.first() is None:
                return False
            await handler(session, event)
            return True

    async def _failed(self, msg: Msg, event: CloudEvent, exc: Exception) -> None:
        delivered = msg.metadata.num_delivered or 1
        poison = isinstance(exc, PoisonEvent | ValidationError)
        if poison or delivered >= self._settings.consumer_max_deliver:
            log.error(
                "consumer_event_parked",
                consumer=self.name,
                event_id=str(event.id),
                event_type=event.type,
                deliveries=delivered,
                error=str(exc),
            )
            await self._park(msg, event, exc)
            metrics.EVENTS_CONSUMED.labels(self._component, self.name, "parked").inc()
            await msg.ack()
            return
        delay = min(0.2 * 2 ** (delivered - 1), 30.0)
        log.warning(
            "consumer_event_retry",
            consumer=self.name,
            event_id=str(event.id),
            event_type=event.type,
            deliveries=delivered,
            retry_in=delay,
            error=str(exc),
        )
        metrics.EVENTS_CONSUMED.labels(self._component, self.name, "retried").inc()
        with contextlib.suppress(Exception):
            await msg.nak(delay=delay)

    async def _park(self, msg: Msg, event: CloudEvent, exc: Exception) -> None:
        async with self._db.sessionmaker() as session, session.begin():
            await session.exec(
                insert(self._inbox)
                .values(
                    consumer=self.name,
                    event_id=event.id,
                    event_type=event.type,
                    status="parked",
                    error=f"{type(exc).__name__}: {exc}"[:2000],
                    headers=dict(msg.headers or {}),
                    payload=msg.data,
                )
                .on_conflict_do_nothing()
            )
