"""Recording a status change: the referral row, its history entry, its event and its SLA timer,
all in the caller's transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from passage.contracts import referrals as contract
from passage.timers import Timers
from services.referrals.events import outbox
from services.referrals.lifecycle.models import CLOSED, Referral, ReferralHistory, Status
from services.referrals.models import SCHEMA, now

timers = Timers(SCHEMA)
SLA_TIMER = "referral_sla"

_EVENTS: dict[str, type[contract._ReferralEvent]] = {
    Status.REQUESTED.value: contract.ReferralRequested,
    Status.ACCEPTED.value: contract.ReferralAccepted,
    Status.REJECTED.value: contract.ReferralRejected,
    Status.IN_PROGRESS.value: contract.ReferralStarted,
    Status.COMPLETED.value: contract.ReferralCompleted,
    Status.CANCELLED.value: contract.ReferralCancelled,
    Status.ON_HOLD.value: contract.ReferralOnHold,
}


def event_fields(referral: Referral, actor: str) -> dict[str, object]:
    return {
        "referral_id": referral.id,
        "client_id": referral.client_id,
        "sending_agency_id": referral.sending_agency_id,
        "receiving_agency_id": referral.receiving_agency_id,
        "service_id": str(referral.service_id) if referral.service_id else None,
        "status": referral.status,
        "actor": actor,
        "occurred_at": referral.updated_at,
        "agreement_id": referral.agreement_id,
        "agreement_version": referral.agreement_version,
        "consent_id": referral.consent_id,
        "emergency": referral.emergency,
    }


async def change_status(
    session: AsyncSession,
    referral: Referral,
    to: Status,
    *,
    actor: str,
    agency_id: str | None,
    reason: str | None = None,
    outcome: str | None = None,
    extra: dict[str, object] | None = None,
) -> ReferralHistory:
    """Move `referral` to `to` (it is new when its status is empty) and say so to both agencies.

    The row, its history entry, the event and the SLA timer are written in one round of statements
    (the outbox insert flushes the two rows); returns the history entry written."""
    moment = now()
    previous = referral.status or None
    referral.status = to.value
    referral.updated_at = moment
    if to == Status.REQUESTED and referral.requested_at is None:
        referral.requested_at = moment
    if to == Status.ACCEPTED and referral.accepted_at is None:
        referral.accepted_at = moment
    if to in CLOSED:
        referral.closed_at = moment
    sla_due = _sla_due(referral, previous, moment)
    session.add(referral)
    entry = ReferralHistory(
        referral_id=referral.id,
        from_status=previous,
        to_status=to.value,
        actor=actor,
        agency_id=agency_id,
        reason=reason,
        outcome=outcome,
        at=moment,
    )
    session.add(entry)
    event_type = _EVENTS.get(to.value)
    if event_type is not None:
        await outbox.add(
            session,
            event_type(**event_fields(referral, actor), **(extra or {})),
            subject=f"client/{referral.client_id}",
        )
    await _arm_sla(session, referral, previous, sla_due)
    await session.flush()
    return entry


def _sla_due(referral: Referral, previous: str | None, moment: datetime) -> datetime | None:
    """When the receiver's answer falls due: the SLA runs while a referral is requested, and only then.
    A referral resumed after a hold gets a fresh SLA period."""
    if referral.status != Status.REQUESTED.value or not referral.sla_hours:
        return None
    if previous != Status.REQUESTED.value or referral.due_at is None:
        referral.due_at = moment + timedelta(hours=referral.sla_hours)
    return referral.due_at


async def _arm_sla(
    session: AsyncSession, referral: Referral, previous: str | None, due_at: datetime | None
) -> None:
    if due_at is not None:
        await timers.schedule(
            session,
            kind=SLA_TIMER,
            key=str(referral.id),
            due_at=due_at,
            payload={"sla_hours": referral.sla_hours},
        )
    elif previous == Status.REQUESTED.value:
        await timers.cancel(session, kind=SLA_TIMER, key=str(referral.id))
