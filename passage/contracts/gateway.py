"""Events published by the gateway (stream GATEWAY, subjects `gateway.>`)."""

from __future__ import annotations

import uuid
from datetime import datetime

from passage.bus.envelope import EventData


class BreakGlassStarted(EventData):
    """Emergency access to one client was opened; notifications tells the agency's DPO."""

    event_type = "gateway.breakglass.started"
    version = 1

    grant_id: uuid.UUID
    client_id: uuid.UUID
    agency_id: str  # the agency of whoever broke the glass
    actor: str
    started_at: datetime
    client_agency_id: str | None = None  # the agency holding the client's file, whose DPO is told too
    expires_at: datetime


class BreakGlassEnded(EventData):
    event_type = "gateway.breakglass.ended"
    version = 1

    grant_id: uuid.UUID
    client_id: uuid.UUID
    agency_id: str
    actor: str
    ended_at: datetime
