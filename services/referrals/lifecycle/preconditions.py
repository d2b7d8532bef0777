"""What must hold before a referral goes anywhere, checked on the server.

A failed check answers 409 with a `reason` code and a sentence a caseworker can act on: no agreement
covering the pair and type, a service that is not active, a client file that is not open, no consent
in force covering the receiver, the purpose `referral` and the agreement's categories.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from passage.auth import AuthSubject, Role
from passage.consent import ConsentRecord, evaluate_consent
from passage.errors import Conflict, Forbidden, NotFound, Unprocessable
from services.referrals.agreements.service import Coverage, agreement_service
from services.referrals.directory.service import directory_reader
from services.referrals.lifecycle.intake import ClientFacts, IntakeClient
from services.referrals.lifecycle.models import ReferralCreate

ACTING_ROLES = frozenset({Role.CASE_WORKER.value, Role.SUPERVISOR.value, Role.PARTNER_SYSTEM.value})
MIN_JUSTIFICATION = 20


def field_error(name: str, message: str, code: str = "invalid") -> list[dict[str, str]]:
    return [{"field": f"body.{name}", "message": message, "code": code}]


def must_act(subject: AuthSubject) -> None:
    if not subject.has_any_role(ACTING_ROLES):
        raise Forbidden(f"Referrals are sent and answered by: {', '.join(sorted(ACTING_ROLES))}")


@dataclass(frozen=True)
class Target:
    """Where a referral goes, and under which agreement."""

    service_id: uuid.UUID | None
    referral_type: str
    coverage: Coverage


@dataclass(frozen=True)
class Destination:
    """What a referral asks for: the service, the receiving agency, the type and whether it is an
    emergency (then the agreement must link the agencies, its type and purpose are not asked)."""

    service_id: uuid.UUID | None
    receiver: str
    referral_type: str | None = None
    emergency: bool = False


def check_sending(subject: AuthSubject, body: ReferralCreate) -> bool:
    """Who may send this and with what: returns whether it is an emergency referral."""
    must_act(subject)
    emergency = body.purpose == "emergency"
    if emergency:
        _check_emergency(subject, body)
    elif body.consent_id is None:
        raise Conflict(
            "A referral needs the client's consent recorded first: record it in intake and send its id "
            "as `consent_id` (only an emergency referral by a supervisor may go without)",
            reason="consent_missing",
        )
    if body.receiving_agency_id == subject.agency:
        raise Unprocessable(
            "A referral goes to another agency",
            errors=field_error("receiving_agency_id", "is your own agency"),
        )
    return emergency


def _check_emergency(subject: AuthSubject, body: ReferralCreate) -> None:
    """Seed 003's exception: without consent only by a supervisor, with a written justification."""
    if not subject.has_any_role({Role.SUPERVISOR.value}):
        raise Forbidden("A referral without the usual consent (purpose `emergency`) is sent by a supervisor")
    justification = (body.emergency_justification or "").strip()
    if len(justification) < MIN_JUSTIFICATION:
        raise Unprocessable(
            "An emergency referral needs a written justification: why life is at risk and consent "
            "cannot wait",
            errors=field_error(
                "emergency_justification", f"at least {MIN_JUSTIFICATION} characters", "missing"
            ),
        )


async def resolve_target(
    session: AsyncSession, subject: AuthSubject, where: Destination, at: datetime
) -> Target:
    """The service (known, active, run by the receiver) and the agreement in force that covers it."""
    kind = where.referral_type or "general"
    if where.service_id is not None:
        service_type = await _active_service_type(session, where.service_id, where.receiver)
        kind = where.referral_type or service_type
    coverage = await agreement_service.covering(
        session,
        from_agency=subject.agency,
        to_agency=where.receiver,
        referral_type=kind,
        purpose="referral",
        roles=subject.roles,
        at=at,
        emergency=where.emergency,
    )
    return Target(service_id=where.service_id, referral_type=kind, coverage=coverage)


async def _active_service_type(session: AsyncSession, service_id: uuid.UUID, receiver: str) -> str:
    try:
        service, org = await directory_reader.find_service(session, service_id)
    except NotFound:
        raise Unprocessable(
            f"The directory has no service {service_id}", errors=field_error("service_id", "unknown service")
        ) from None
    if org is not None and org.agency_id is not None and org.agency_id != receiver:
        raise Unprocessable(
            f"Service {service_id} is run by {org.agency_id}, not {receiver}",
            errors=field_error("receiving_agency_id", f"the service's agency is {org.agency_id}", "mismatch"),
        )
    if service.status != "active":
        raise Conflict(
            f"Service {service_id} is {service.status}: choose another service in the directory",
            reason="service_not_active",
        )
    return str(service.referral_type)


def coverage_fields(coverage: Coverage, client: ClientFacts) -> dict[str, Any]:
    """What a referral copies from its agreement and, for statistics, from the client."""
    return {
        "agreement_id": coverage.agreement.id,
        "agreement_version": coverage.agreement.version,
        "categories": list(coverage.direction.categories),
        "sla_hours": coverage.direction.sla_hours,
        "client_gender": client.gender,
        "client_age_band": client.age_band,
    }


@dataclass(frozen=True)
class ClientFile:
    """What intake says about a client at the moment of referring: the file and its consents."""

    client: ClientFacts | None
    consents: list[ConsentRecord]

    def open(self, client_id: uuid.UUID) -> ClientFacts:
        """The client, whose file must be open; else 422 (unknown) or 409 (closed)."""
        if self.client is None:
            raise Unprocessable(
                f"Intake knows no client {client_id}", errors=field_error("client_id", "unknown client")
            )
        if self.client.status != "open":
            raise Conflict(
                f"The client's file is {self.client.status}: reopen it in intake first",
                reason="client_not_open",
            )
        return self.client


async def fetch_client_file(
    intake: IntakeClient, client_id: uuid.UUID, at: datetime, *, with_consents: bool
) -> ClientFile:
    """The client and (if asked) its consents in force at `at`, the two intake calls at once."""
    if not with_consents:
        return ClientFile(await intake.client(client_id, on=at.date()), [])
    client, consents = await asyncio.gather(
        intake.client(client_id, on=at.date()), intake.consents(client_id, at=at)
    )
    return ClientFile(client, consents)


async def open_client(intake: IntakeClient, client_id: uuid.UUID, at: datetime) -> ClientFacts:
    return (await fetch_client_file(intake, client_id, at, with_consents=False)).open(client_id)


def check_consent(
    records: list[ConsentRecord], consent_id: uuid.UUID, receiver: str, target: Target, at: datetime
) -> None:
    """The consent named must be in force and cover the referral on its own (it is the one a withdrawal
    acts on), and all the client's consents together must not withhold any of it."""
    named = next((r for r in records if r.id == consent_id), None)
    if named is None or not named.in_force(at) or named.decision != "permit":
        raise Conflict(
            f"Consent {consent_id} is not in force for this client (withdrawn, expired, a denial, or another "
            "client's): record the client's consent to this referral in intake and send its id",
            reason="consent_not_in_force",
        )
    categories = target.coverage.direction.categories
    decision = evaluate_consent(
        records,
        grantee_agency=receiver,
        purpose="referral",
        categories=categories,
        at=at,
        party_to_agreement=True,
    )
    if not decision.covers_all:
        raise Conflict(
            f"The client's consent does not cover what the agreement shares with {receiver}: "
            + "; ".join(decision.withheld.values())
            + ". Ask the client and record a consent that covers these categories for the purpose 'referral'",
            reason="consent_does_not_cover",
            errors=[
                {"field": f"categories.{c}", "message": why, "code": "consent_withheld"}
                for c, why in sorted(decision.withheld.items())
            ],
        )
    alone = evaluate_consent(
        [named],
        grantee_agency=receiver,
        purpose="referral",
        categories=categories,
        at=at,
        party_to_agreement=True,
    )
    if not alone.covers_all:
        raise Conflict(
            f"Consent {consent_id} does not itself cover this referral ("
            + "; ".join(alone.withheld.values())
            + f"); send the consent that does: {', '.join(sorted(map(str, decision.consent_ids)))}",
            reason="consent_does_not_cover",
        )


async def check_consent_in_intake(
    intake: IntakeClient,
    client_id: uuid.UUID,
    consent_id: uuid.UUID,
    receiver: str,
    target: Target,
    at: datetime,
) -> None:
    check_consent(await intake.consents(client_id, at=at), consent_id, receiver, target, at)
