"""Agreements (SOPs) over HTTP. No logic here."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from passage.auth import AuthSubject, CurrentSubject, Role, require_roles
from passage.db import SessionDep
from passage.errors import BadRequest
from passage.idempotency import IdempotencyKey
from passage.pagination import MAX_PAGE_SIZE, Page
from services.referrals.agreements.models import AgencyId, AgreementCreate, AgreementPublic, AgreementStatus
from services.referrals.agreements.service import agreement_service
from services.referrals.idempotency import idempotency
from services.referrals.models import require_storable

router = APIRouter(prefix="/v1", tags=["agreements"])

AgreementAdmin = Annotated[AuthSubject, Depends(require_roles(Role.AGENCY_ADMIN, Role.COORDINATOR))]

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: {"description": "A query parameter is not valid (`between`, `at`)"},
    401: {"description": "No valid bearer token"},
    403: {"description": "The caller may not do this to this agreement"},
    404: {"description": "No such agreement visible to the caller's agency"},
    422: {"description": "A field is not valid; `errors` names it"},
}


@router.get(
    "/agreements",
    response_model=Page[AgreementPublic],
    summary="Agreements: which applied between two agencies at a time, or the caller's agreements",
    description="`between=A,B&at=ISO-8601`: the agreements between A and B (and each one's network "
    "agreement) "
    "in force at `at`, the one in force first; without `at`, every version, the one in force now first. "
    "Without `between`: the agreements the caller's agency is party to, newest first (cursor paginated).",
    responses=_PROBLEMS,
)
async def list_agreements(
    subject: CurrentSubject,
    session: SessionDep,
    between: Annotated[
        str | None, Query(max_length=201, description="Two agency ids, comma separated")
    ] = None,
    at: datetime | None = None,
    status: AgreementStatus | None = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE_SIZE)] = None,
) -> Page[AgreementPublic]:
    if between is not None:
        parts = [p.strip() for p in between.split(",")]
        if len(parts) != 2 or not all(_agency_id(p) for p in parts):
            raise BadRequest(
                "`between` takes two agency ids separated by a comma, e.g. between=harbour-aid,city-clinic",
                errors=[{"field": "query.between", "message": "two agency ids", "code": "invalid"}],
            )
        if at is not None and at.tzinfo is None:
            raise BadRequest("`at` needs a time zone, e.g. 2025-03-01T12:00:00Z")
        require_storable("at", at)
        return await agreement_service.between(session, subject, parts[0], parts[1], at)
    return await agreement_service.listing(
        session, subject, status=status.value if status else None, cursor=cursor, limit=limit
    )


def _agency_id(value: str) -> bool:
    from pydantic import TypeAdapter, ValidationError

    try:
        TypeAdapter(AgencyId).validate_python(value)
    except ValidationError:
        return False
    return True


@router.post(
    "/agreements",
    status_code=201,
    response_model=AgreementPublic,
    summary="Propose an agreement (or a new version of one): an agency_admin of a party, who signs by "
    "proposing",
    responses=_PROBLEMS,
)
async def propose_agreement(
    body: AgreementCreate,
    subject: AgreementAdmin,
    session: SessionDep,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await idempotency.respond(
        session,
        request,
        subject,
        idempotency_key,
        lambda: agreement_service.propose(session, subject, body),
        headers=lambda a: {"Location": f"/v1/agreements/{a.id}"},
    )


@router.get(
    "/agreements/{agreement_id}", response_model=AgreementPublic, summary="One agreement", responses=_PROBLEMS
)
async def get_agreement(
    agreement_id: uuid.UUID, subject: CurrentSubject, session: SessionDep
) -> AgreementPublic:
    return await agreement_service.get(session, subject, agreement_id)


@router.post(
    "/agreements/{agreement_id}/sign",
    response_model=AgreementPublic,
    summary="Sign a proposed agreement: an agency_admin of the other party; in force once every party signed",
    responses={**_PROBLEMS, 409: {"description": "Not proposed, or already signed by this party"}},
)
async def sign_agreement(
    agreement_id: uuid.UUID, subject: AgreementAdmin, session: SessionDep
) -> AgreementPublic:
    return await agreement_service.sign(session, subject, agreement_id)


@router.post(
    "/agreements/{agreement_id}/revoke",
    response_model=AgreementPublic,
    summary="Revoke an agreement: an agency_admin of a party; it stops applying at once",
    responses={**_PROBLEMS, 409: {"description": "Already ended"}},
)
async def revoke_agreement(
    agreement_id: uuid.UUID, subject: AgreementAdmin, session: SessionDep
) -> AgreementPublic:
    return await agreement_service.revoke(session, subject, agreement_id)
