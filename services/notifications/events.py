"""What notifications publishes (delivery outcomes come with the notifications issue); the outbox
is in place so they commit with the delivery state that causes them."""

from __future__ import annotations

from passage.bus import Outbox
from services.notifications.models import SCHEMA

outbox = Outbox(schema=SCHEMA, source="/passage/notifications")
