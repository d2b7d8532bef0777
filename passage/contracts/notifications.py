"""Events published by the notifications service (stream NOTIFICATIONS, subjects `notifications.>`)."""

from __future__ import annotations

import uuid

from passage.bus.envelope import EventData


class _DeliveryEvent(EventData):
    delivery_id: uuid.UUID
    channel: str  # email, sms, webhook, in_app
    agency_id: str | None
    source_event_id: uuid.UUID
    source_event_type: str
    attempts: int


class DeliverySucceeded(_DeliveryEvent):
    event_type = "notifications.delivery.succeeded"


class DeliveryFailed(_DeliveryEvent):
    """One attempt failed; another is scheduled (`next_attempt_in_seconds`)."""

    event_type = "notifications.delivery.failed"

    status_code: int | None = None
    next_attempt_in_seconds: float | None = None


class DeliveryDeadLettered(_DeliveryEvent):
    event_type = "notifications.delivery.dead_lettered"


class EndpointDisabled(EventData):
    event_type = "notifications.endpoint.disabled"
    version = 1

    endpoint_id: uuid.UUID
    agency_id: str
    consecutive_failures: int
