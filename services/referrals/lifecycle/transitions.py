"""Moving a referral through its statuses (FHIR Task): who may make which move (`statuses.MOVES`),
what a move needs, resuming from on-hold, re-checking a draft when it is sent, and the DPO's review
of an emergency referral."""

from __future__ import annotations

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from passage.auth import AuthSubject
from passage.errors import Conflict, Forbidden, Unprocessable
from services.referrals.lifecycle.intake import IntakeClient
from services.referrals.lifecycle.models import DpoReview, Referral, ReferralPublic, Status, TransitionRequest
from services.referrals.lifecycle.preconditions import (
    Destination,
    check_consent_in_intake,
    coverage_fields,
    field_error,
    must_act,
    open_client,
    resolve_target,
)
from services.referrals.lifecycle.publishing import change_status
from services.referrals.lifecycle.reads import public, visible
from services.referrals.lifecycle.repository import referral_repository as repo
from services.referrals.lifecycle.statuses import MOVES, RESUMABLE, allowed_targets
from services.referrals.models import now


async def transition(
    session: AsyncSession,
    subject: AuthSubject,
    referral_id: uuid.UUID,
    body: TransitionRequest,
    intake: IntakeClient,
) -> ReferralPublic:
    must_act(subject)
    referral = await _locked(session, subject, referral_id)
    current, to = Status(referral.status), body.to
    side = "sender" if subject.agency == referral.sending_agency_id else "receiver"
    if current == Status.ON_HOLD and to in RESUMABLE:
        await _resume(session, subject, referral, body, side, intake)
    else:
        _check_move(referral, current, body, side)
        if to == Status.DRAFT or (current == Status.DRAFT and to == Status.REQUESTED):
            await _recheck_draft(session, subject, referral, intake)
    extra = _effects(referral, current, body)
    await change_status(
        session,
        referral,
        to,
        actor=subject.sub,
        agency_id=subject.agency,
        reason=body.reason,
        outcome=body.outcome,
        extra=extra,
    )
    return await public(session, referral)


async def _locked(session: AsyncSession, subject: AuthSubject, referral_id: uuid.UUID) -> Referral:
    """The referral, visible to the caller (else 404), locked for the change."""
    await visible(session, subject, referral_id)
    referral = await repo.lock(session, referral_id)
    assert referral is not None
    return referral


def _check_move(referral: Referral, current: Status, body: TransitionRequest, side: str) -> None:
    to = body.to
    move = MOVES.get((current, to))
    if move is None:
        raise Conflict(
            f"A referral that is {current.value} cannot become {to.value}; "
            f"it can become: {', '.join(allowed_targets(current)) or 'nothing (it is closed)'}",
            reason="invalid_transition",
        )
    if move.side != side:
        owner = referral.sending_agency_id if move.side == "sender" else referral.receiving_agency_id
        raise Forbidden(f"Only the {move.side} agency may move a referral to {to.value} ({owner})")
    if move.needs_reason and not (body.reason and body.reason.strip()):
        raise Unprocessable(
            f"Moving to {to.value} needs a reason", errors=field_error("reason", "required", "missing")
        )
    if move.needs_outcome and not (body.outcome and body.outcome.strip()):
        raise Unprocessable(
            "Completing a referral records its outcome",
            errors=field_error("outcome", "required", "missing"),
        )


def _effects(referral: Referral, current: Status, body: TransitionRequest) -> dict[str, object]:
    """What the move changes besides the status (hold bookkeeping, outcome), and the event's extras."""
    to = body.to
    extra: dict[str, object] = {}
    if to == Status.ON_HOLD:
        referral.held_from, referral.hold_cause = current.value, "manual"
        extra["cause"] = "manual"
    elif current == Status.ON_HOLD:
        referral.held_from = referral.hold_cause = None
    if to == Status.COMPLETED:
        referral.outcome = body.outcome
        referral.outcome_code = body.outcome_code or "successful"
        extra["outcome_code"] = referral.outcome_code
    elif to == Status.FAILED:
        referral.outcome = body.outcome or body.reason
        referral.outcome_code = body.outcome_code or "not_successful"
    if to == Status.CANCELLED:
        extra["cause"] = "sender"
    return extra


def _as_sent(referral: Referral) -> Destination:
    return Destination(
        referral.service_id, referral.receiving_agency_id, referral.referral_type, referral.emergency
    )


async def _resume(
    session: AsyncSession,
    subject: AuthSubject,
    referral: Referral,
    body: TransitionRequest,
    side: str,
    intake: IntakeClient,
) -> None:
    """Leaving on-hold returns to where it was held from: a manual hold is lifted by the receiver, a
    hold for withdrawn consent by the sender with a new consent (checked)."""
    if body.to.value != referral.held_from:
        raise Conflict(
            f"This referral was held while {referral.held_from}; it resumes to {referral.held_from}",
            reason="invalid_transition",
        )
    if referral.hold_cause != "consent_withdrawn":
        if side != "receiver":
            raise Forbidden("The receiving agency put this referral on hold; it resumes it")
        return
    if side != "sender":
        raise Forbidden("A referral held for withdrawn consent is resumed by the sender, with a new consent")
    if body.consent_id is None:
        raise Conflict(
            "The client withdrew the consent this referral relied on: record a new consent in intake "
            "and send its id as `consent_id` to resume",
            reason="consent_missing",
        )
    at = now()
    target = await resolve_target(session, subject, _as_sent(referral), at)
    await check_consent_in_intake(
        intake, referral.client_id, body.consent_id, referral.receiving_agency_id, target, at
    )
    referral.consent_id = body.consent_id


async def _recheck_draft(
    session: AsyncSession, subject: AuthSubject, referral: Referral, intake: IntakeClient
) -> None:
    """A draft is checked again when it is sent: agreement and consent may have changed since."""
    at = now()
    target = await resolve_target(session, subject, _as_sent(referral), at)
    if referral.consent_id is not None:
        await check_consent_in_intake(
            intake, referral.client_id, referral.consent_id, referral.receiving_agency_id, target, at
        )
    client = await open_client(intake, referral.client_id, at)
    for key, value in coverage_fields(target.coverage, client).items():
        setattr(referral, key, value)


async def review(
    session: AsyncSession, subject: AuthSubject, referral_id: uuid.UUID, body: DpoReview
) -> ReferralPublic:
    """The sending agency's DPO records whether an emergency referral was justified."""
    referral = await _locked(session, subject, referral_id)
    if referral.sending_agency_id != subject.agency:
        raise Forbidden("The sending agency's data protection officer reviews its emergency referrals")
    if not referral.emergency:
        raise Conflict("Only emergency referrals are flagged for the DPO's review", reason="not_emergency")
    referral.dpo_review = "justified" if body.justified else "not_justified"
    referral.dpo_review_note = body.note
    referral.dpo_reviewed_by = subject.sub
    referral.updated_at = now()
    session.add(referral)
    await session.flush()
    return await public(session, referral)
