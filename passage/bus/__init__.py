"""NATS JetStream events: CloudEvents envelopes, transactional outbox, relay, inbox consumers."""

from passage.bus.consumer import EventConsumer, PoisonEvent, Subscription
from passage.bus.envelope import CloudEvent, EventData
from passage.bus.outbox import Outbox

__all__ = ["CloudEvent", "EventConsumer", "EventData", "Outbox", "PoisonEvent", "Subscription"]
