"""What scoring publishes. Its events (scores, bands, triage, follow-ups) come with the scoring issue;
the outbox is in place so that they commit with the change that causes them."""

from __future__ import annotations

from passage.bus import Outbox
from services.scoring.models import SCHEMA

outbox = Outbox(schema=SCHEMA, source="/passage/scoring")
