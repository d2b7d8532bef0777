"""Referrals and KPIs over HTTP. No logic here."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from passage.auth import AuthSubject, CurrentSubject, Role, require_roles
from passage.db import SessionDep
from passage.errors import BadRequest
from passage.idempotency import IdempotencyKey
from passage.pagination import MAX_PAGE_SIZE, Page
from services.referrals.idempotency import idempotency
from services.referrals.lifecycle import kpis
from services.referrals.lifecycle.intake import IntakeClient
from services.referrals.lifecycle.models import (
    DpoReview,
    ReferBack,
    ReferralCreate,
    ReferralPublic,
    Status,
    Transfer,
    TransitionRequest,
)
from services.referrals.lifecycle.service import referral_service
from services.referrals.models import require_storable

router = APIRouter(prefix="/v1", tags=["referrals"])


def _intake(request: Request) -> IntakeClient:
    return IntakeClient(request.app.state.intake_http)


IntakeDep = Annotated[IntakeClient, Depends(_intake)]
Dpo = Annotated[AuthSubject, Depends(require_roles(Role.DATA_PROTECTION_OFFICER))]
KpiReader = Annotated[
    AuthSubject,
    Depends(require_roles(Role.SERVICE, Role.SUPERVISOR, Role.AGENCY_ADMIN, Role.DATA_PROTECTION_OFFICER)),
]

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No valid bearer token"},
    403: {"description": "The caller's role or side may not do this"},
    404: {"description": "No such referral sent or received by the caller's agency"},
    409: {"description": "A precondition failed; `reason` says which and `detail` what to do"},
    422: {"description": "A field is not valid; `errors` names it"},
    503: {"description": "Intake could not be asked about the client or consent; retry"},
}


@router.post(
    "/referrals",
    status_code=201,
    response_model=ReferralPublic,
    summary="Send a referral (checked: agreement, consent, the sender's role)",
    description="The server checks that an agreement in force covers the two agencies and the referral type, "
    "and that a consent in force covers the receiving agency, the purpose `referral` and the categories the "
    "agreement shares; if not, 409 with a `reason` (no_agreement, agreement_does_not_cover, consent_missing, "
    "consent_not_in_force, consent_does_not_cover). Purpose `emergency` (a supervisor, with a written "
    "justification) may go without consent and is flagged for the DPO's review.",
    responses=_PROBLEMS,
)
async def send_referral(
    body: ReferralCreate,
    subject: CurrentSubject,
    session: SessionDep,
    intake: IntakeDep,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await idempotency.respond(
        session,
        request,
        subject,
        idempotency_key,
        lambda: referral_service.create(session, subject, body, intake),
        headers=lambda r: {"Location": f"/v1/referrals/{r.id}"},
    )


@router.get(
    "/referrals",
    response_model=Page[ReferralPublic],
    summary="Referrals the caller's agency sent or received (or a batch by `ids`)",
    responses=_PROBLEMS,
)
async def list_referrals(
    subject: CurrentSubject,
    session: SessionDep,
    ids: Annotated[
        str | None, Query(max_length=3700, description="Up to 100 referral ids, comma separated")
    ] = None,
    direction: Literal["sent", "received"] | None = None,
    status: Status | None = None,
    client_id: uuid.UUID | None = None,
    overdue: bool | None = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE_SIZE)] = None,
) -> Page[ReferralPublic]:
    if ids is not None:
        try:
            wanted = list(dict.fromkeys(uuid.UUID(part.strip()) for part in ids.split(",") if part.strip()))
        except ValueError:
            raise BadRequest(
                "`ids` takes referral ids (UUIDs) separated by commas",
                errors=[{"field": "query.ids", "message": "not a list of UUIDs", "code": "invalid"}],
            ) from None
        if not wanted or len(wanted) > 100:
            raise BadRequest("`ids` takes 1 to 100 referral ids")
        return await referral_service.by_ids(session, subject, wanted)
    return await referral_service.listing(
        session,
        subject,
        direction=direction,
        status=status.value if status else None,
        client_id=client_id,
        overdue=overdue,
        cursor=cursor,
        limit=limit,
    )


@router.get(
    "/referrals/{referral_id}",
    response_model=ReferralPublic,
    summary="One referral, with its history",
    responses=_PROBLEMS,
)
async def get_referral(
    referral_id: uuid.UUID, subject: CurrentSubject, session: SessionDep
) -> ReferralPublic:
    return await referral_service.get(session, subject, referral_id)


@router.post(
    "/referrals/{referral_id}/transitions",
    response_model=ReferralPublic,
    summary="Move a referral to another status (FHIR Task): the receiver accepts/rejects/starts/completes, "
    "the sender cancels",
    description="Rejecting, failing and holding need a `reason`; completing records an `outcome` (and "
    "`outcome_code`). "
    "A move reserved to the other side answers 403; a move the status does not allow answers 409.",
    responses=_PROBLEMS,
)
async def transition(
    referral_id: uuid.UUID,
    body: TransitionRequest,
    subject: CurrentSubject,
    session: SessionDep,
    intake: IntakeDep,
) -> ReferralPublic:
    return await referral_service.transition(session, subject, referral_id, body, intake)


@router.post(
    "/referrals/{referral_id}/refer-back",
    status_code=201,
    response_model=ReferralPublic,
    summary="Refer the client back to the sending agency (two-way referral): the receiver",
    responses=_PROBLEMS,
)
async def refer_back(
    referral_id: uuid.UUID, body: ReferBack, subject: CurrentSubject, session: SessionDep, intake: IntakeDep
) -> ReferralPublic:
    return await referral_service.refer_back(session, subject, referral_id, body, intake)


@router.post(
    "/referrals/{referral_id}/transfer",
    status_code=201,
    response_model=ReferralPublic,
    summary="Transfer a received referral onward to a third agency (needs consent covering the new receiver)",
    responses=_PROBLEMS,
)
async def transfer(
    referral_id: uuid.UUID, body: Transfer, subject: CurrentSubject, session: SessionDep, intake: IntakeDep
) -> ReferralPublic:
    return await referral_service.transfer(session, subject, referral_id, body, intake)


@router.post(
    "/referrals/{referral_id}/dpo-review",
    response_model=ReferralPublic,
    summary="The sending agency's DPO reviews an emergency referral sent without consent",
    responses=_PROBLEMS,
)
async def dpo_review(
    referral_id: uuid.UUID, body: DpoReview, subject: Dpo, session: SessionDep
) -> ReferralPublic:
    return await referral_service.review(session, subject, referral_id, body)


@router.get(
    "/kpis",
    response_model=kpis.Kpis,
    summary="Referral KPIs for M&E: statistics only, no names",
    description="`group_by`: comma list of agency, service_type, period (YYYY-MM), gender, age_band, "
    "urgency. "
    "Each cell counts referrals sent and received, accepted, completed, rejected, closed, closed with an "
    "outcome "
    "and overdue, with the median hours to accept. A member of an agency sees its own side; role `service` "
    "(the gateway, which suppresses small cells for coordinators) sees the network.",
    responses={401: _PROBLEMS[401], 403: _PROBLEMS[403], 400: {"description": "A parameter is not valid"}},
)
async def get_kpis(
    subject: KpiReader,
    session: SessionDep,
    from_: Annotated[datetime, Query(alias="from")],
    to: datetime,
    group_by: Annotated[str, Query(max_length=200)] = "agency",
) -> kpis.Kpis:
    dims = [d.strip() for d in group_by.split(",") if d.strip()]
    unknown = sorted(set(dims) - set(kpis.DIMENSIONS))
    if unknown or len(set(dims)) != len(dims):
        raise BadRequest(
            f"group_by takes distinct names among: {', '.join(kpis.DIMENSIONS)}",
            errors=[
                {
                    "field": "query.group_by",
                    "message": f"unknown {unknown}" if unknown else "repeated",
                    "code": "invalid",
                }
            ],
        )
    if from_.tzinfo is None or to.tzinfo is None or to <= from_:
        raise BadRequest("`from` and `to` need time zones, and `to` must be after `from`")
    require_storable("from", from_)
    require_storable("to", to)
    return await kpis.compute(session, subject, start=from_, end=to, group_by=dims)
