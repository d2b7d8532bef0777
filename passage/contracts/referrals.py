"""Events published by the referrals service (stream REFERRALS, subjects `referrals.>`).

Referral events share one shape: ids, agencies, status and actor. No reasons or notes in free
text: the receiver reads those through the gateway, where consent and the agreement apply.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from passage.bus.envelope import EventData


class _ReferralEvent(EventData):
    referral_id: uuid.UUID
    client_id: uuid.UUID
    sending_agency_id: str
    receiving_agency_id: str
    service_id: str | None
    status: str
    actor: str  # `sub` of who made the change, or `system`
    occurred_at: datetime
    agreement_id: uuid.UUID | None = None
    agreement_version: int | None = None
    consent_id: uuid.UUID | None = None
    emergency: bool = False


class ReferralRequested(_ReferralEvent):
    event_type = "referrals.referral.requested"


class ReferralAccepted(_ReferralEvent):
    event_type = "referrals.referral.accepted"


class ReferralRejected(_ReferralEvent):
    event_type = "referrals.referral.rejected"


class ReferralStarted(_ReferralEvent):
    event_type = "referrals.referral.started"


class ReferralCompleted(_ReferralEvent):
    event_type = "referrals.referral.completed"

    outcome_code: str | None = None


class ReferralCancelled(_ReferralEvent):
    event_type = "referrals.referral.cancelled"

    cause: Literal["sender", "consent_withdrawn", "other"] = "sender"


class ReferralOnHold(_ReferralEvent):
    event_type = "referrals.referral.on_hold"

    cause: Literal["consent_withdrawn", "manual", "other"] = "manual"


class ReferralOverdue(_ReferralEvent):
    """Neither accepted nor rejected within the agreement's SLA: escalate to the receiver's supervisors."""

    event_type = "referrals.referral.overdue"

    sla_hours: int
    due_at: datetime
    escalation_level: int = 1  # 1: the receiving agency's supervisors
    sla_hours_exact: float | None = None  # the agreement's SLA when it is not a whole number of hours


class ReferralTransferred(_ReferralEvent):
    """Sent onward: `receiving_agency_id` is the new receiver, `previous_receiving_agency_id` the old."""

    event_type = "referrals.referral.transferred"

    previous_receiving_agency_id: str
    new_referral_id: uuid.UUID | None = None


class AgreementChanged(EventData):
    """A data-sharing agreement (SOP) was proposed, signed, superseded or ended. The gateway drops
    its cached decisions for the two parties on it."""

    event_type = "referrals.agreement.changed"
    version = 1

    agreement_id: uuid.UUID
    version_number: int
    parties: list[str]  # two agency ids, or one agency id and "network"
    status: str  # proposed, active, superseded, expired, revoked
    valid_from: datetime | None
    valid_to: datetime | None


class DirectoryChanged(EventData):
    """Entries of the HSDS service directory changed; consumers refetch them through the API."""

    event_type = "referrals.directory.changed"
    version = 1

    entity: Literal["service", "organization", "location", "service_at_location", "taxonomy"]
    ids: list[str]
    change: Literal["upserted", "deleted"]
