"""What scoring publishes (passage.contracts.scoring), and its durable timers."""

from __future__ import annotations

from passage.bus import Outbox
from passage.timers import Timers
from services.scoring.models import SCHEMA

outbox = Outbox(schema=SCHEMA, source="/passage/scoring")
timers = Timers(SCHEMA)

# A schedule item falls due: key = the item's id.
FOLLOWUP_DUE = "followup_due"
