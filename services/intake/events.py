"""What intake tells the others, through its outbox (committed with the change)."""

from __future__ import annotations

from passage.bus import Outbox
from passage.contracts.intake import (
    AssessmentSubmitted,
    CasePlanChanged,
    ClientAnonymised,
    ClientClosed,
    ClientMerged,
    ClientRegistered,
    ClientReopened,
    ClientUpdated,
    ConsentExpired,
    ConsentGranted,
    ConsentWithdrawn,
    DocumentExpiry,
    FollowupRecorded,
)
from services.intake.models import SCHEMA

outbox = Outbox(schema=SCHEMA, source="/passage/intake")

__all__ = [
    "AssessmentSubmitted",
    "CasePlanChanged",
    "ClientAnonymised",
    "ClientClosed",
    "ClientMerged",
    "ClientRegistered",
    "ClientReopened",
    "ClientUpdated",
    "ConsentExpired",
    "ConsentGranted",
    "ConsentWithdrawn",
    "DocumentExpiry",
    "FollowupRecorded",
    "outbox",
]
