"""What intake tells the others, through its outbox (committed with the change)."""

from __future__ import annotations

from passage.bus import Outbox
from passage.contracts.intake import ClientRegistered
from services.intake.models import SCHEMA

outbox = Outbox(schema=SCHEMA, source="/passage/intake")

__all__ = ["ClientRegistered", "outbox"]
