"""What happens to referrals without anyone asking: the consent-withdrawal cascade (an event from
intake) and the SLA escalation (a durable timer). Both run in the consumer's or timer's own
transaction, and both are idempotent."""

from __future__ import annotations

import uuid

import structlog
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from passage.bus import CloudEvent, PoisonEvent
from passage.contracts.intake import ConsentWithdrawn
from passage.contracts.referrals import ReferralOverdue
from passage.timers import DueTimer
from services.referrals.agreements.models import Agreement
from services.referrals.events import outbox
from services.referrals.lifecycle.models import ReferralHistory, Status
from services.referrals.lifecycle.publishing import change_status, event_fields
from services.referrals.lifecycle.repository import referral_repository as repo
from services.referrals.models import now

log = structlog.get_logger(__name__)
SYSTEM = "system"


async def on_consent_withdrawn(session: AsyncSession, event: CloudEvent) -> None:
    """Every open referral that relied on the withdrawn consent goes on hold (or is cancelled, if its
    agreement says so), with the reason recorded; both agencies hear of it through the events."""
    try:
        news = event.parse(ConsentWithdrawn)
    except ValidationError as exc:
        raise PoisonEvent(str(exc)) from exc
    if not await repo.claim_withdrawal(
        session, consent_id=news.consent_id, client_id=news.client_id, withdrawn_at=news.withdrawn_at
    ):
        log.info("consent_withdrawal_already_applied", consent_id=str(news.consent_id))
        return
    referrals = await repo.open_relying_on(session, news.consent_id)
    reason = f"consent {news.consent_id} withdrawn at {news.withdrawn_at.isoformat()}"
    for referral in referrals:
        policy = await _policy(session, referral.agreement_id)
        if policy == "cancel":
            await change_status(
                session,
                referral,
                Status.CANCELLED,
                actor=SYSTEM,
                agency_id=None,
                reason=reason,
                extra={"cause": "consent_withdrawn"},
            )
        else:
            referral.held_from, referral.hold_cause = referral.status, "consent_withdrawn"
            await change_status(
                session,
                referral,
                Status.ON_HOLD,
                actor=SYSTEM,
                agency_id=None,
                reason=reason,
                extra={"cause": "consent_withdrawn"},
            )
    await repo.note_withdrawal_effect(session, news.consent_id, len(referrals))
    log.info("consent_withdrawal_applied", consent_id=str(news.consent_id), referrals=len(referrals))


async def _policy(session: AsyncSession, agreement_id: uuid.UUID | None) -> str:
    if agreement_id is None:
        return "on_hold"
    agreement = await session.get(Agreement, agreement_id)
    return agreement.on_consent_withdrawn if agreement is not None else "on_hold"


async def on_sla_due(session: AsyncSession, timer: DueTimer) -> None:
    """The receiver neither accepted nor rejected within the agreement's SLA: mark it overdue and
    escalate to the receiving agency's supervisors (notifications acts on the event)."""
    referral = await repo.lock(session, uuid.UUID(timer.key))
    if referral is None or referral.status != Status.REQUESTED.value or referral.overdue:
        return
    moment = now()
    referral.overdue = True
    referral.escalation_level += 1
    referral.updated_at = moment
    session.add(referral)
    sla_hours = referral.sla_hours or float(timer.payload.get("sla_hours", 0))
    await repo.record(
        session,
        ReferralHistory(
            referral_id=referral.id,
            from_status=referral.status,
            to_status=referral.status,
            kind="escalation",
            actor=SYSTEM,
            agency_id=None,
            reason=f"not accepted or rejected within the agreement's SLA of {sla_hours:g} h: "
            f"escalated to {referral.receiving_agency_id}'s supervisors",
            at=moment,
        ),
    )
    await outbox.add(
        session,
        ReferralOverdue(
            **event_fields(referral, SYSTEM),
            sla_hours=max(1, round(sla_hours)),
            due_at=referral.due_at or timer.due_at,
            escalation_level=referral.escalation_level,
            sla_hours_exact=sla_hours,
        ),
        subject=f"client/{referral.client_id}",
    )
