"""Intake's REST routes for clients and consents: no logic here, only HTTP."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import JSONResponse

from passage.auth import AuthSubject, Role, require_roles
from passage.concurrency import IfMatch, etag
from passage.db import SessionDep
from passage.idempotency import IdempotencyKey
from passage.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page
from services.intake.categories import categories_map
from services.intake.schemas import (
    ClientCreate,
    ClientPublic,
    ClientUpdate,
    CloseRequest,
    MergeRequest,
    RegistrationResult,
    ReopenRequest,
)
from services.intake.schemas_consent import (
    ClientConsentsBatch,
    ConsentCreate,
    ConsentPublic,
    WithdrawRequest,
)
from services.intake.service import MAX_CONSENTS_PER_CLIENT, client_service
from services.intake.timing import idempotency
from services.intake.vocab import ClientStatus, MigrationPhase, Vulnerability

router = APIRouter(prefix="/v1")

CASE_ROLES = (Role.CASE_WORKER, Role.SUPERVISOR, Role.AGENCY_ADMIN, Role.PARTNER_SYSTEM)
READ_ROLES = (*CASE_ROLES, Role.DATA_PROTECTION_OFFICER, Role.SERVICE)
Writer = Annotated[AuthSubject, Depends(require_roles(*CASE_ROLES))]
Reader = Annotated[AuthSubject, Depends(require_roles(*READ_ROLES))]
Lead = Annotated[AuthSubject, Depends(require_roles(Role.SUPERVISOR, Role.AGENCY_ADMIN))]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size")]
Cursor = Annotated[str | None, Query(max_length=500, description="`next_cursor` of the previous page")]

PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed header or cursor"},
    401: {"description": "No valid bearer token"},
    403: {"description": "The caller's role may not do this"},
    422: {"description": "A field is not valid; `errors` names it"},
}
ONE = {**PROBLEMS, 404: {"description": "No such record that you may see"}}
STATEFUL = {**ONE, 409: {"description": "The record's state does not allow this"}}


def _client_headers(result: Any) -> dict[str, str]:
    return {"Location": f"/v1/clients/{result.id}", "ETag": etag(result.version)}


@router.get(
    "/schema/categories",
    tags=["schema"],
    summary="Data category of every personal field",
    description="A flat object field -> category. Client fields are bare (`given_name`); fields of other "
    "resources are `resource.field` (`followup.notes`). The gateway releases fields by these labels.",
    response_model=dict[str, str],
    responses={401: PROBLEMS[401]},
)
async def schema_categories(subject: Reader) -> dict[str, str]:
    return categories_map()


@router.post(
    "/clients",
    tags=["clients"],
    status_code=status.HTTP_201_CREATED,
    response_model=RegistrationResult,
    summary="Register a client in the caller's agency",
    description="Likely duplicates in the agency (name similarity + birth year + sex) come back in "
    "`duplicate_warning` and `possible_duplicates`; confirm the record as new or merge it.",
    responses=PROBLEMS,
)
async def register_client(
    body: ClientCreate, subject: Writer, session: SessionDep, request: Request, key: IdempotencyKey = None
) -> JSONResponse:
    return await idempotency.respond(
        session,
        request,
        subject,
        key,
        lambda: client_service.register(session, subject, body),
        headers=_client_headers,
    )


@router.get(
    "/clients",
    tags=["clients"],
    response_model=Page[ClientPublic],
    summary="List clients (cursor pages, filters), or fetch up to 100 by `ids`",
    responses=PROBLEMS,
)
async def list_clients(
    subject: Reader,
    session: SessionDep,
    ids: Annotated[
        str | None, Query(max_length=4000, description="Comma-separated client ids (max 100)")
    ] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
    status_: Annotated[ClientStatus | None, Query(alias="status")] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100, description="Part of a name")] = None,
    migration_phase: MigrationPhase | None = None,
    vulnerability: Vulnerability | None = None,
    sensitive: bool | None = None,
    case_worker: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[ClientPublic]:
    if ids is not None:
        return Page(items=await client_service.batch(session, subject, ids))
    items, next_cursor = await client_service.page(
        session,
        subject,
        limit=limit,
        cursor=cursor,
        status=status_,
        q=q,
        migration_phase=migration_phase,
        vulnerability=vulnerability,
        sensitive=sensitive,
        case_worker=case_worker,
    )
    return Page(items=items, next_cursor=next_cursor)


@router.get(
    "/clients/{client_id}",
    tags=["clients"],
    response_model=ClientPublic,
    summary="Read one client (ETag = version)",
    responses=ONE,
)
async def get_client(
    client_id: uuid.UUID, subject: Reader, session: SessionDep, response: Response
) -> ClientPublic:
    client = await client_service.read(session, subject, client_id)
    response.headers["ETag"] = etag(client.version)
    return client


@router.patch(
    "/clients/{client_id}",
    tags=["clients"],
    response_model=ClientPublic,
    summary="Change some fields (needs If-Match)",
    description="Send `If-Match` with the ETag you read: a stale one gets 412, none gets 428. "
    "Emits `intake.client.updated` with the data categories that changed.",
    responses={
        **STATEFUL,
        412: {"description": "Stale ETag"},
        428: {"description": "If-Match missing"},
    },
)
async def update_client(
    client_id: uuid.UUID,
    body: ClientUpdate,
    subject: Writer,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> ClientPublic:
    client = await client_service.amend(session, subject, client_id, body, if_match)
    response.headers["ETag"] = etag(client.version)
    return client


@router.post(
    "/clients/{client_id}/close",
    tags=["clients"],
    response_model=ClientPublic,
    summary="Close the case with a Handbook closure reason and a final note",
    responses=STATEFUL,
)
async def close_client(
    client_id: uuid.UUID,
    body: CloseRequest,
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
        lambda: client_service.close(session, subject, client_id, body),
        status_code=200,
        headers=lambda r: {"ETag": etag(r.version)},
    )


@router.post(
    "/clients/{client_id}/reopen",
    tags=["clients"],
    response_model=ClientPublic,
    summary="Reopen a closed case",
    responses=STATEFUL,
)
async def reopen_client(
    client_id: uuid.UUID,
    body: ReopenRequest,
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
        lambda: client_service.reopen(session, subject, client_id, body),
        status_code=200,
        headers=lambda r: {"ETag": etag(r.version)},
    )


@router.post(
    "/clients/{client_id}/duplicates/dismiss",
    tags=["clients"],
    response_model=ClientPublic,
    summary="Confirm the record is a new person (clears the duplicate warning)",
    responses=ONE,
)
async def dismiss_duplicates(
    client_id: uuid.UUID, subject: Writer, session: SessionDep, request: Request, key: IdempotencyKey = None
) -> JSONResponse:
    return await idempotency.respond(
        session,
        request,
        subject,
        key,
        lambda: client_service.dismiss_duplicates(session, subject, client_id),
        status_code=200,
    )


@router.post(
    "/clients/{client_id}/merge",
    tags=["clients"],
    response_model=ClientPublic,
    summary="Fold a duplicate into this record (supervisor or agency admin)",
    description="The duplicate's consents, assessments, plans and follow-ups move here; the duplicate is "
    "closed with reason `duplicate_merged` and points here (`merged_into`). Emits `intake.client.merged`.",
    responses=STATEFUL,
)
async def merge_client(
    client_id: uuid.UUID,
    body: MergeRequest,
    subject: Lead,
    session: SessionDep,
    request: Request,
    key: IdempotencyKey = None,
) -> JSONResponse:
    return await idempotency.respond(
        session,
        request,
        subject,
        key,
        lambda: client_service.merge(session, subject, client_id, body),
        status_code=200,
    )


# -- consents -------------------------------------------------------------------------------------


@router.post(
    "/clients/{client_id}/consents",
    tags=["consents"],
    status_code=status.HTTP_201_CREATED,
    response_model=ConsentPublic,
    summary="Record a consent (FHIR R5 Consent shaped); emits intake.consent.granted",
    responses=STATEFUL,
)
async def grant_consent(
    client_id: uuid.UUID,
    body: ConsentCreate,
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
        lambda: client_service.grant_consent(session, subject, client_id, body),
        headers=lambda r: {"Location": f"/v1/consents/{r.id}"},
    )


@router.get(
    "/clients/{client_id}/consents",
    tags=["consents"],
    response_model=Page[ConsentPublic],
    summary="A client's consents; `active_at` keeps those in force at that time",
    responses=ONE,
)
async def list_consents(
    client_id: uuid.UUID,
    subject: Reader,
    session: SessionDep,
    active_at: Annotated[datetime | None, Query(description="ISO 8601; e.g. now")] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Page[ConsentPublic]:
    items, next_cursor = await client_service.consents(
        session, subject, client_id, limit=limit, cursor=cursor, active_at=active_at
    )
    return Page(items=items, next_cursor=next_cursor)


@router.get(
    "/consents",
    tags=["consents"],
    response_model=ClientConsentsBatch,
    summary="The consents of up to 100 clients in one call, each with its consent revision",
    description="`client_ids` is a comma-separated list of client ids (at most 100). One item per client "
    "you may read, in the order given; unknown or unreadable ids are left out. Each item's "
    "`consent_revision` and `consents` come from one snapshot: cache the consents at that revision, "
    "and use them while the client record carries the same `consent_revision`. `active_at` keeps the "
    f"consents in force at that time. A client with more than {MAX_CONSENTS_PER_CLIENT} consents "
    "makes the call fail (422, `too_many_consents`, naming it): read that one with "
    "`GET /v1/clients/{id}/consents`.",
    responses={
        **PROBLEMS,
        422: {
            "description": "`client_ids` is not a list of at most 100 UUIDs, or a client has too many "
            "consents; `errors` names the parameter"
        },
    },
)
async def batch_consents(
    subject: Reader,
    session: SessionDep,
    client_ids: Annotated[
        str, Query(min_length=1, max_length=4000, description="Comma-separated client ids (max 100)")
    ],
    active_at: Annotated[datetime | None, Query(description="ISO 8601; e.g. now")] = None,
) -> ClientConsentsBatch:
    return await client_service.consents_of_clients(session, subject, client_ids, active_at=active_at)


@router.get(
    "/consents/{consent_id}",
    tags=["consents"],
    response_model=ConsentPublic,
    summary="Read one consent",
    responses=ONE,
)
async def get_consent(consent_id: uuid.UUID, subject: Reader, session: SessionDep) -> ConsentPublic:
    return await client_service.get_consent(session, subject, consent_id)


@router.post(
    "/consents/{consent_id}/withdraw",
    tags=["consents"],
    response_model=ConsentPublic,
    summary="Withdraw a consent, at once; emits intake.consent.withdrawn",
    responses=STATEFUL,
)
async def withdraw_consent(
    consent_id: uuid.UUID,
    body: WithdrawRequest,
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
        lambda: client_service.withdraw_consent(session, subject, consent_id, body),
        status_code=200,
    )
