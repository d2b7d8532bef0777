"""Two-way referrals: the receiver refers the client back to the agency holding the file, or transfers
the referral onward to a third agency (which needs a consent covering that agency)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from passage.auth import AuthSubject
from passage.contracts.referrals import ReferralTransferred
from passage.errors import Conflict, Forbidden, Unprocessable
from services.referrals.events import outbox
from services.referrals.lifecycle.intake import ClientFacts, IntakeClient
from services.referrals.lifecycle.models import ReferBack, Referral, ReferralPublic, Status, Transfer
from services.referrals.lifecycle.preconditions import (
    Destination,
    Target,
    check_consent,
    coverage_fields,
    fetch_client_file,
    field_error,
    must_act,
    open_client,
    resolve_target,
)
from services.referrals.lifecycle.publishing import change_status, event_fields
from services.referrals.lifecycle.reads import public_of_new, visible
from services.referrals.lifecycle.repository import referral_repository as repo
from services.referrals.models import now


@dataclass(frozen=True)
class Onward:
    """A referral that follows from another: to whom, why, and under which consent."""

    receiver: str
    reasons: str
    urgency: str
    consent_id: uuid.UUID | None
    link: str  # refer_back | transfer


async def refer_back(
    session: AsyncSession, subject: AuthSubject, referral_id: uuid.UUID, body: ReferBack, intake: IntakeClient
) -> ReferralPublic:
    must_act(subject)
    original = await visible(session, subject, referral_id)
    if original.receiving_agency_id != subject.agency:
        raise Forbidden("Only the receiving agency refers a client back")
    if Status(original.status) not in (Status.ACCEPTED, Status.IN_PROGRESS, Status.COMPLETED):
        raise Conflict(f"A referral that is {original.status} cannot be referred back", reason="wrong_status")
    at = now()
    target = await resolve_target(
        session, subject, Destination(body.service_id, original.sending_agency_id), at
    )
    client = await open_client(intake, original.client_id, at)
    if client.agency_id != original.sending_agency_id:
        raise Conflict("The original sender no longer holds the client's file", reason="holder_changed")
    # The client returns to the agency holding the file: no new consent is needed for it.
    onward = Onward(
        original.sending_agency_id, body.reasons, body.urgency.value, original.consent_id, "refer_back"
    )
    back = _linked(original, subject, target, client, onward)
    session.add(back)
    entry = await change_status(session, back, Status.REQUESTED, actor=subject.sub, agency_id=subject.agency)
    return public_of_new(back, entry)


async def transfer(
    session: AsyncSession, subject: AuthSubject, referral_id: uuid.UUID, body: Transfer, intake: IntakeClient
) -> ReferralPublic:
    must_act(subject)
    await visible(session, subject, referral_id)
    original = await repo.lock(session, referral_id)
    assert original is not None
    _check_transferable(subject, original, body)
    at = now()
    target = await resolve_target(
        session, subject, Destination(body.service_id, body.receiving_agency_id), at
    )
    found = await fetch_client_file(intake, original.client_id, at, with_consents=True)
    client = found.open(original.client_id)
    check_consent(found.consents, body.consent_id, body.receiving_agency_id, target, at)
    onward = Onward(body.receiving_agency_id, body.reasons, body.urgency.value, body.consent_id, "transfer")
    new = _linked(original, subject, target, client, onward)
    session.add(new)
    entry = await change_status(session, new, Status.REQUESTED, actor=subject.sub, agency_id=subject.agency)
    await _close_transferred(session, subject, original, new)
    return public_of_new(new, entry)


def _check_transferable(subject: AuthSubject, original: Referral, body: Transfer) -> None:
    if original.receiving_agency_id != subject.agency:
        raise Forbidden("Only the receiving agency transfers a referral onward")
    if Status(original.status) not in (Status.REQUESTED, Status.ACCEPTED, Status.IN_PROGRESS):
        raise Conflict(f"A referral that is {original.status} cannot be transferred", reason="wrong_status")
    if body.receiving_agency_id in (subject.agency, original.sending_agency_id):
        raise Unprocessable(
            "Transfer to a third agency (to return the client, refer back)",
            errors=field_error("receiving_agency_id", "is a party of this referral"),
        )


async def _close_transferred(
    session: AsyncSession, subject: AuthSubject, original: Referral, new: Referral
) -> None:
    """The original is cancelled, naming the new referral; `transferred` tells all three agencies."""
    previous_receiver = original.receiving_agency_id
    await change_status(
        session,
        original,
        Status.CANCELLED,
        actor=subject.sub,
        agency_id=subject.agency,
        reason=f"transferred to {new.receiving_agency_id} as referral {new.id}",
        extra={"cause": "other"},
    )
    fields = event_fields(new, subject.sub)
    fields["referral_id"] = original.id
    await outbox.add(
        session,
        ReferralTransferred(**fields, previous_receiving_agency_id=previous_receiver, new_referral_id=new.id),
        subject=f"client/{original.client_id}",
    )


def _linked(
    original: Referral, subject: AuthSubject, target: Target, client: ClientFacts, onward: Onward
) -> Referral:
    return Referral(
        client_id=original.client_id,
        sending_agency_id=subject.agency,
        receiving_agency_id=onward.receiver,
        service_id=target.service_id,
        referral_type=target.referral_type,
        purpose="referral",
        reasons=onward.reasons,
        urgency=onward.urgency,
        consent_id=onward.consent_id,
        status="",
        communication_needs=original.communication_needs,
        referred_by=subject.sub,
        parent_referral_id=original.id,
        link=onward.link,
        **coverage_fields(target.coverage, client),
    )
