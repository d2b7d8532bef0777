"""Events published by the intake service (stream INTAKE, subjects `intake.>`)."""

from __future__ import annotations

import uuid

from passage.bus.envelope import EventData


class ClientRegistered(EventData):
    """A client was registered by an agency. Carries ids only: no names, no birth data."""

    event_type = "intake.client.registered"
    version = 1

    client_id: uuid.UUID
    agency_id: str
    registered_by: str
