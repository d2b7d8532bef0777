"""What an attempt's outcome does to a delivery, to its webhook endpoint, and to the event stream.

Runs inside the caller's transaction (the worker's, or the request's for a test send), so the new
state and its `notifications.delivery.*` event commit together through the outbox.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import structlog
from sqlmodel.ext.asyncio.session import AsyncSession

from passage.bus.envelope import EventData
from passage.contracts.notifications import (
    DeliveryDeadLettered,
    DeliveryFailed,
    DeliverySucceeded,
    EndpointDisabled,
)
from services.notifications.adapters import Attempt
from services.notifications.dispatch import Notice, dispatcher
from services.notifications.events import add_all, outbox
from services.notifications.models import Delivery, WebhookEndpoint
from services.notifications.repository import DeliveryRepository, WebhookRepository
from services.notifications.settings import NotificationSettings

log = structlog.get_logger(__name__)
HISTORY_KEEP = 20


class OutcomeRecorder:
    """Records attempts' outcomes, a batch at a time: one transaction, one lock per row touched."""

    def __init__(self, settings: NotificationSettings, backoff: object) -> None:
        self._s = settings
        self._backoff = backoff  # (attempt, settings) -> seconds
        self._deliveries = DeliveryRepository()
        self._endpoints = WebhookRepository()

    async def record(self, session: AsyncSession, delivery_id: uuid.UUID, outcome: object) -> Delivery | None:
        return (await self.record_many(session, [(delivery_id, outcome)])).get(delivery_id)

    async def record_many(
        self, session: AsyncSession, outcomes: Sequence[tuple[uuid.UUID, object]]
    ) -> dict[uuid.UUID, Delivery]:
        """Apply outcomes in the order they happened. Deliveries, then endpoints, are locked in id
        order, so two workers recording overlapping batches wait for each other, never deadlock."""
        deliveries = await self._deliveries.lock_many(session, {i for i, _ in outcomes})
        endpoint_ids = {d.endpoint_id for d in deliveries.values() if d.endpoint_id is not None}
        endpoints = {e.id: e for e in await self._endpoints.by_ids(session, endpoint_ids, lock=True)}
        events: list[tuple[EventData, str]] = []
        for delivery_id, outcome in outcomes:
            delivery = deliveries.get(delivery_id)
            if delivery is None or delivery.state != "sending":
                continue  # replayed, dead-lettered by a disable, or recorded by another worker
            endpoint = endpoints.get(delivery.endpoint_id) if delivery.endpoint_id else None
            await self._apply(session, delivery, outcome, endpoint, events)
        await add_all(session, events)
        # The rows were loaded by this session: their changes flush as one batch of UPDATEs.
        await session.flush()
        return deliveries

    async def _apply(
        self,
        session: AsyncSession,
        delivery: Delivery,
        outcome: object,
        endpoint: WebhookEndpoint | None,
        events: list[tuple[EventData, str]],
    ) -> None:
        """One outcome onto its (locked) delivery and endpoint, with its event into the outbox."""
        now = datetime.now(UTC)
        delivery.updated_at = now
        delivery.lease_until = None
        if not isinstance(outcome, Attempt):
            delivery.state, delivery.next_attempt_at = "skipped", None
            delivery.last_error = str(getattr(outcome, "reason", "skipped"))[:500]
            self._note(delivery, now, None, delivery.last_error)
            return
        delivery.attempts += 1
        delivery.last_status_code = outcome.status_code
        delivery.last_error = outcome.error[:500] if outcome.error else None
        self._note(delivery, now, outcome.status_code, outcome.error)
        subject = self._subject(delivery)
        if outcome.ok:
            delivery.state, delivery.next_attempt_at, delivery.delivered_at = "succeeded", None, now
            events.append((DeliverySucceeded(**self._event_fields(delivery)), subject))
            if endpoint is not None and endpoint.consecutive_failures:
                endpoint.consecutive_failures = 0
                endpoint.updated_at = now
            return
        if outcome.retryable and delivery.attempts < delivery.max_attempts:
            wait = self._backoff(delivery.attempts, self._s)  # type: ignore[operator]
            if outcome.retry_after is not None:
                wait = max(wait, min(outcome.retry_after, self._s.retry_after_cap_seconds))
            delivery.state, delivery.next_attempt_at = "retrying", now + timedelta(seconds=wait)
            event: DeliveryFailed | DeliveryDeadLettered = DeliveryFailed(
                **self._event_fields(delivery),
                status_code=outcome.status_code,
                next_attempt_in_seconds=wait,
            )
        else:
            delivery.state, delivery.next_attempt_at = "dead_lettered", None
            event = DeliveryDeadLettered(**self._event_fields(delivery))
        events.append((event, subject))
        if endpoint is None or delivery.source_event_type == "webhook.test":
            return
        endpoint.consecutive_failures += 1
        endpoint.updated_at = now
        if endpoint.enabled and endpoint.consecutive_failures >= self._s.endpoint_failure_threshold:
            await add_all(session, events)  # keep the outbox in the order things happened
            events.clear()
            await session.flush()  # the disable dead-letters the endpoint's waiting rows by SQL
            await self.disable(session, endpoint)

    async def disable(self, session: AsyncSession, endpoint: WebhookEndpoint) -> None:
        """Stop sending to an endpoint that keeps failing, keep its messages, and tell its admins."""
        endpoint.enabled = False
        endpoint.disabled_reason = f"{endpoint.consecutive_failures} consecutive failed deliveries"
        await self._endpoints.save(session, endpoint)
        parked = await self._deliveries.dead_letter_open_for_endpoint(
            session, endpoint.id, "the endpoint was disabled after repeated failures"
        )
        event = await outbox.add(
            session,
            EndpointDisabled(
                endpoint_id=endpoint.id,
                agency_id=endpoint.agency_id,
                consecutive_failures=endpoint.consecutive_failures,
            ),
            subject=f"webhook_endpoint/{endpoint.id}",
        )
        log.warning("webhook_endpoint_disabled", endpoint_id=str(endpoint.id), dead_lettered=parked)
        await dispatcher.dispatch(
            session,
            Notice(
                notice_type=event.type,
                event_id=event.id,
                event_type=event.type,
                event_time=event.time,
                agency=endpoint.agency_id,
                resource_type="webhook_endpoint",
                resource_id=endpoint.id,
                roles=frozenset({"agency_admin"}),
                context={"failures": endpoint.consecutive_failures},
                webhook_data={"consecutive_failures": endpoint.consecutive_failures},
            ),
        )

    @staticmethod
    def _note(delivery: Delivery, at: datetime, status: int | None, error: str | None) -> None:
        entry = {"at": at.isoformat(), "attempt": delivery.attempts, "status_code": status, "error": error}
        delivery.history = [*delivery.history, entry][-HISTORY_KEEP:]

    @staticmethod
    def _event_fields(delivery: Delivery) -> dict[str, object]:
        return {
            "delivery_id": delivery.id,
            "channel": delivery.channel,
            "agency_id": delivery.agency_id,
            "source_event_id": delivery.source_event_id,
            "source_event_type": delivery.source_event_type,
            "attempts": delivery.attempts,
        }

    @staticmethod
    def _subject(delivery: Delivery) -> str:
        return f"delivery/{delivery.id}"
