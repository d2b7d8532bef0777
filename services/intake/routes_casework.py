"""REST routes of case work and whole-file records: no logic here, only HTTP."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import JSONResponse

from passage.auth import AuthSubject, Role, require_roles
from passage.concurrency import IfMatch, etag
from passage.db import SessionDep
from passage.idempotency import IdempotencyKey
from passage.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page
from services.intake import records
from services.intake.casework import casework_service
from services.intake.routes import ONE, PROBLEMS, STATEFUL, Cursor, Limit, Reader, Writer
from services.intake.schemas import ChangesPage
from services.intake.schemas_casework import (
    AssessmentCreate,
    AssessmentKind,
    AssessmentPublic,
    CasePlanCreate,
    CasePlanPublic,
    CasePlanUpdate,
    FollowupCreate,
    FollowupPublic,
    HouseholdCreate,
    HouseholdPublic,
    MemberIn,
    ReviewCreate,
)
from services.intake.timing import idempotency

router = APIRouter(prefix="/v1")
Protector = Annotated[
    AuthSubject, Depends(require_roles(Role.DATA_PROTECTION_OFFICER, Role.AGENCY_ADMIN, Role.SUPERVISOR))
]
ServiceOnly = Annotated[AuthSubject, Depends(require_roles(Role.SERVICE))]


# -- assessments -------------------------------------------------------------------------------------


@router.post(
    "/clients/{client_id}/assessments",
    tags=["casework"],
    status_code=status.HTTP_201_CREATED,
    response_model=AssessmentPublic,
    summary="Submit an assessment; emits intake.assessment.submitted",
    description="Answers are keyed by concept keys. For `rss`, every question of rss-scoring.md is answered "
    "with an option code (`dont_know` and `refused` allowed); intake validates, scoring computes.",
    responses=STATEFUL,
)
async def submit_assessment(
    client_id: uuid.UUID,
    body: AssessmentCreate,
    subject: Writer,
    session: SessionDep,
    request: Request,
    key: IdempotencyKey = None,
) -> JSONResponse:
    return await idempotency.respond(
        session,
        request,
        subject,
        key,
        lambda: casework_service.submit_assessment(session, subject, client_id, body),
        headers=lambda r: {"Location": f"/v1/assessments/{r.id}"},
    )


@router.get(
    "/clients/{client_id}/assessments",
    tags=["casework"],
    response_model=Page[AssessmentPublic],
    summary="A client's assessments, oldest first",
    responses=ONE,
)
async def list_assessments(
    client_id: uuid.UUID,
    subject: Reader,
    session: SessionDep,
    kind: AssessmentKind | None = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Page[AssessmentPublic]:
    items, next_cursor = await casework_service.assessments(
        session, subject, client_id, kind=kind, limit=limit, cursor=cursor
    )
    return Page(items=items, next_cursor=next_cursor)


@router.get(
    "/assessments/{assessment_id}",
    tags=["casework"],
    response_model=AssessmentPublic,
    summary="Read one assessment",
    responses=ONE,
)
async def get_assessment(assessment_id: uuid.UUID, subject: Reader, session: SessionDep) -> AssessmentPublic:
    return await casework_service.assessment(session, subject, assessment_id)


# -- households --------------------------------------------------------------------------------------


@router.post(
    "/households",
    tags=["casework"],
    status_code=status.HTTP_201_CREATED,
    response_model=HouseholdPublic,
    summary="Link members to a head of case, with relationships and dependants",
    responses=STATEFUL,
)
async def create_household(
    body: HouseholdCreate, subject: Writer, session: SessionDep, request: Request, key: IdempotencyKey = None
) -> JSONResponse:
    return await idempotency.respond(
        session,
        request,
        subject,
        key,
        lambda: casework_service.create_household(session, subject, body),
        headers=lambda r: {"Location": f"/v1/households/{r.id}"},
    )


@router.post(
    "/households/{household_id}/members",
    tags=["casework"],
    response_model=HouseholdPublic,
    summary="Add a member to a household",
    responses=STATEFUL,
)
async def add_member(
    household_id: uuid.UUID,
    body: MemberIn,
    subject: Writer,
    session: SessionDep,
    request: Request,
    key: IdempotencyKey = None,
) -> JSONResponse:
    return await idempotency.respond(
        session,
        request,
        subject,
        key,
        lambda: casework_service.add_member(session, subject, household_id, body),
        status_code=200,
    )


@router.get(
    "/households/{household_id}",
    tags=["casework"],
    response_model=HouseholdPublic,
    summary="Read a household",
    responses=ONE,
)
async def get_household(household_id: uuid.UUID, subject: Reader, session: SessionDep) -> HouseholdPublic:
    return await casework_service.household(session, subject, household_id)


@router.get(
    "/clients/{client_id}/household",
    tags=["casework"],
    response_model=HouseholdPublic,
    summary="The household a client heads or belongs to",
    responses=ONE,
)
async def client_household(client_id: uuid.UUID, subject: Reader, session: SessionDep) -> HouseholdPublic:
    return await casework_service.household_of(session, subject, client_id)


# -- case plans ---------------------------------------------------------------------------------------


@router.post(
    "/clients/{client_id}/plans",
    tags=["casework"],
    status_code=status.HTTP_201_CREATED,
    response_model=CasePlanPublic,
    summary="Draw up a case (reintegration) plan; emits intake.caseplan.changed",
    responses=STATEFUL,
)
async def create_plan(
    client_id: uuid.UUID,
    body: CasePlanCreate,
    subject: Writer,
    session: SessionDep,
    request: Request,
    key: IdempotencyKey = None,
) -> JSONResponse:
    return await idempotency.respond(
        session,
        request,
        subject,
        key,
        lambda: casework_service.create_plan(session, subject, client_id, body),
        headers=lambda r: {"Location": f"/v1/plans/{r.id}", "ETag": etag(r.version)},
    )


@router.get(
    "/clients/{client_id}/plans",
    tags=["casework"],
    response_model=list[CasePlanPublic],
    summary="A client's case plans with their reviews",
    responses=ONE,
)
async def list_plans(client_id: uuid.UUID, subject: Reader, session: SessionDep) -> list[CasePlanPublic]:
    return await casework_service.plans(session, subject, client_id)


@router.get(
    "/plans/{plan_id}",
    tags=["casework"],
    response_model=CasePlanPublic,
    summary="Read a case plan (ETag)",
    responses=ONE,
)
async def get_plan(
    plan_id: uuid.UUID, subject: Reader, session: SessionDep, response: Response
) -> CasePlanPublic:
    plan = await casework_service.plan(session, subject, plan_id)
    response.headers["ETag"] = etag(plan.version)
    return plan


@router.patch(
    "/plans/{plan_id}",
    tags=["casework"],
    response_model=CasePlanPublic,
    summary="Change a case plan (needs If-Match); emits intake.caseplan.changed",
    responses={**STATEFUL, 412: {"description": "Stale ETag"}, 428: {"description": "If-Match missing"}},
)
async def update_plan(
    plan_id: uuid.UUID,
    body: CasePlanUpdate,
    subject: Writer,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> CasePlanPublic:
    plan = await casework_service.update_plan(session, subject, plan_id, body, if_match)
    response.headers["ETag"] = etag(plan.version)
    return plan


@router.post(
    "/plans/{plan_id}/reviews",
    tags=["casework"],
    status_code=status.HTTP_201_CREATED,
    response_model=CasePlanPublic,
    summary="Record a review of the plan",
    responses=STATEFUL,
)
async def review_plan(
    plan_id: uuid.UUID,
    body: ReviewCreate,
    subject: Writer,
    session: SessionDep,
    request: Request,
    key: IdempotencyKey = None,
) -> JSONResponse:
    return await idempotency.respond(
        session, request, subject, key, lambda: casework_service.review_plan(session, subject, plan_id, body)
    )


# -- follow-ups -----------------------------------------------------------------------------------------


@router.post(
    "/clients/{client_id}/followups",
    tags=["casework"],
    status_code=status.HTTP_201_CREATED,
    response_model=FollowupPublic,
    summary="Record a follow-up meeting; emits intake.followup.recorded",
    responses=STATEFUL,
)
async def record_followup(
    client_id: uuid.UUID,
    body: FollowupCreate,
    subject: Writer,
    session: SessionDep,
    request: Request,
    key: IdempotencyKey = None,
) -> JSONResponse:
    return await idempotency.respond(
        session,
        request,
        subject,
        key,
        lambda: casework_service.record_followup(session, subject, client_id, body),
    )


@router.get(
    "/clients/{client_id}/followups",
    tags=["casework"],
    response_model=Page[FollowupPublic],
    summary="A client's follow-up meetings",
    responses=ONE,
)
async def list_followups(
    client_id: uuid.UUID,
    subject: Reader,
    session: SessionDep,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Page[FollowupPublic]:
    items, next_cursor = await casework_service.followups(
        session, subject, client_id, limit=limit, cursor=cursor
    )
    return Page(items=items, next_cursor=next_cursor)


# -- records ---------------------------------------------------------------------------------------------


@router.get(
    "/changes",
    tags=["records"],
    response_model=ChangesPage,
    summary="Delta feed: what changed in your agency's files since a cursor",
    description="Pass `next_cursor` as `since` next time. Items name the resource and the client; fetch "
    "what you need. Rows appear in commit order, so a cursor never skips a change.",
    responses=PROBLEMS,
)
async def changes(
    subject: Reader,
    session: SessionDep,
    since: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
) -> ChangesPage:
    return await records.changes(session, subject, since, limit)


@router.get(
    "/clients/{client_id}/export",
    tags=["records"],
    response_model=dict[str, Any],
    summary="Everything held on one client (subject access request)",
    description="For the data protection officer, agency admin or supervisor of the holding agency.",
    responses=ONE,
)
async def export_client(client_id: uuid.UUID, subject: Protector, session: SessionDep) -> dict[str, Any]:
    return await records.export(session, subject, client_id)


@router.get(
    "/statistics/clients",
    tags=["records"],
    response_model=dict[str, Any],
    summary="Raw counts of clients by dimension (role service only; the gateway suppresses small cells)",
    description="group_by: comma list of period (YYYY-MM of registration), area (admin1), gender, age_band "
    "(0-17, 18-24, 25-34, 35-49, 50-64, 65+, unknown), vulnerability (one cell per code; `none` "
    "when there is "
    "none). `from`/`to` are registration dates, inclusive. Anonymised files count; merged duplicates do not.",
    responses=PROBLEMS,
)
async def client_statistics(
    subject: ServiceOnly,
    session: SessionDep,
    group_by: Annotated[str | None, Query(max_length=200)] = None,
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: date | None = None,
) -> dict[str, Any]:
    return await records.statistics(session, group_by, from_, to)
