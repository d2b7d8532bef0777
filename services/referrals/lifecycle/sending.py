"""Sending a new referral: the preconditions, then one row, its history entry, its event and its SLA
timer, written together."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from passage.auth import AuthSubject
from passage.errors import Forbidden
from services.referrals.lifecycle.intake import ClientFacts, IntakeClient
from services.referrals.lifecycle.models import Referral, ReferralCreate, ReferralPublic, Status
from services.referrals.lifecycle.preconditions import (
    ClientFile,
    Destination,
    Target,
    check_consent,
    check_sending,
    coverage_fields,
    fetch_client_file,
    resolve_target,
)
from services.referrals.lifecycle.publishing import change_status
from services.referrals.lifecycle.reads import public_of_new
from services.referrals.models import now


async def create_referral(
    session: AsyncSession, subject: AuthSubject, body: ReferralCreate, intake: IntakeClient
) -> ReferralPublic:
    emergency = check_sending(subject, body)
    at = now()
    # Intake is asked (client and consents, at once) while the database answers for the agreement and
    # the directory; a failed check there cancels the question to intake.
    asking = asyncio.ensure_future(
        fetch_client_file(intake, body.client_id, at, with_consents=body.consent_id is not None)
    )
    try:
        target = await resolve_target(
            session,
            subject,
            Destination(body.service_id, body.receiving_agency_id, body.referral_type, emergency),
            at,
        )
    except BaseException:
        asking.cancel()
        with contextlib.suppress(BaseException):
            await asking
        raise
    client = _holder_checked(subject, body, await asking, target, at)
    referral = _new_referral(subject, body, target, client, emergency)
    session.add(referral)
    history = await change_status(
        session,
        referral,
        Status.DRAFT if body.draft else Status.REQUESTED,
        actor=subject.sub,
        agency_id=subject.agency,
        reason="emergency: " + (body.emergency_justification or "") if emergency else None,
    )
    return public_of_new(referral, history)


def _holder_checked(
    subject: AuthSubject, body: ReferralCreate, found: ClientFile, target: Target, at: datetime
) -> ClientFacts:
    """The client's file is open and held by the sender; the consent named covers the referral."""
    client = found.open(body.client_id)
    if client.agency_id != subject.agency:
        raise Forbidden(
            "Only the agency holding the client's file refers the client; "
            "for a referral you received, refer back or transfer it onward"
        )
    if body.consent_id is not None:
        check_consent(found.consents, body.consent_id, body.receiving_agency_id, target, at)
    return client


def _new_referral(
    subject: AuthSubject, body: ReferralCreate, target: Target, client: ClientFacts, emergency: bool
) -> Referral:
    return Referral(
        client_id=body.client_id,
        sending_agency_id=subject.agency,
        receiving_agency_id=body.receiving_agency_id,
        service_id=target.service_id,
        referral_type=target.referral_type,
        purpose=body.purpose,
        reasons=body.reasons,
        urgency=body.urgency.value,
        consent_id=body.consent_id,
        status="",
        emergency=emergency,
        emergency_justification=body.emergency_justification if emergency else None,
        dpo_review="pending" if emergency else None,
        communication_needs=body.communication_needs.model_dump(mode="json"),
        assessment_outline=body.assessment_outline,
        current_services=list(body.current_services),
        referred_by=subject.sub,
        **coverage_fields(target.coverage, client),
    )
