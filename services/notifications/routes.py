"""HTTP only: the notifications API. Logic lives in service.py."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from passage.auth import AuthSubject, CurrentSubject, Role, require_roles
from passage.db import SessionDep
from passage.idempotency import IdempotencyKey
from passage.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page
from services.notifications.idempotent import respond
from services.notifications.schemas import (
    AgencyPreferencesPublic,
    AgencyPreferencesUpdate,
    InAppNotificationPublic,
    MarkedRead,
    MarkRead,
    Preferences,
    RecipientCreate,
    RecipientPublic,
    RecipientUpdate,
)
from services.notifications.service import (
    in_app_service,
    recipient_service,
)

router = APIRouter(prefix="/v1", tags=["notifications"])

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
Cursor = Annotated[str | None, Query(max_length=512)]
Admin = Annotated[AuthSubject, Depends(require_roles(Role.AGENCY_ADMIN))]
WebhookManager = Annotated[AuthSubject, Depends(require_roles(Role.AGENCY_ADMIN, Role.PARTNER_SYSTEM))]
DeliveryReader = Annotated[
    AuthSubject,
    Depends(
        require_roles(
            Role.AGENCY_ADMIN,
            Role.PARTNER_SYSTEM,
            Role.SUPERVISOR,
            Role.DATA_PROTECTION_OFFICER,
            Role.SERVICE,
        )
    ),
]

AUTH: dict[int | str, dict[str, Any]] = {401: {"description": "No valid bearer token"}}
FORBIDDEN: dict[int | str, dict[str, Any]] = {403: {"description": "The caller's roles do not allow this"}}
INVALID: dict[int | str, dict[str, Any]] = {
    422: {"description": "The body or a parameter is not valid (problem+json lists the fields)"}
}
MISSING: dict[int | str, dict[str, Any]] = {404: {"description": "Not found at the caller's agency"}}
CURSOR: dict[int | str, dict[str, Any]] = {400: {"description": "The cursor is not valid"}}
IDEMPOTENT: dict[int | str, dict[str, Any]] = {
    400: {"description": "The Idempotency-Key header is not usable"},
    422: {"description": "The body is not valid, or the Idempotency-Key was used with another body"},
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "The resource is not in a state that allows this"}
}


# -------------------------------------------------------------------------------------- in-app


@router.get(
    "/notifications",
    response_model=Page[InAppNotificationPublic],
    summary="The caller's in-app notifications, newest first",
    description="Notices addressed to the caller, or to its agency (all staff or a role the caller holds). "
    "`read_at` is the caller's own read state. The live feed is `GET /v1/notifications/stream` (SSE).",
    responses={**CURSOR, **AUTH, **INVALID},
)
async def list_notifications(
    subject: CurrentSubject, session: SessionDep, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> Page[InAppNotificationPublic]:
    return await in_app_service.page(session, subject, limit=limit, cursor=cursor)


@router.post(
    "/notifications/read",
    response_model=MarkedRead,
    summary="Mark the caller's notifications read (the given ids, or all)",
    responses={**AUTH, **INVALID},
)
async def mark_read(body: MarkRead, subject: CurrentSubject, session: SessionDep) -> MarkedRead:
    return MarkedRead(marked=await in_app_service.mark_read(session, subject, body.ids))


@router.get(
    "/notifications/stream",
    summary="Live feed of the caller's new in-app notifications (server-sent events)",
    description="text/event-stream: one `notification` event per new notice, `id:` = the notice id; send "
    "`Last-Event-ID` to resume after a notice. A `: keep-alive` comment comes every 15 s.",
    response_class=StreamingResponse,
    include_in_schema=False,  # an endless response: documented in the README, kept out of fuzzing
)
async def stream_notifications(
    request: Request,
    subject: CurrentSubject,
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
) -> StreamingResponse:
    return StreamingResponse(
        in_app_service.stream(request.app.state.db, subject, last_event_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


# ----------------------------------------------------------------------------------- recipients


@router.post(
    "/recipients",
    response_model=RecipientPublic,
    status_code=201,
    summary="Register a member of the agency's staff as a recipient (agency_admin)",
    responses={**AUTH, **FORBIDDEN, **CONFLICT, **IDEMPOTENT},
)
async def register_recipient(
    body: RecipientCreate, request: Request, subject: Admin, session: SessionDep, key: IdempotencyKey = None
) -> JSONResponse:
    return await respond(
        session,
        request,
        subject,
        key,
        lambda: recipient_service.register(session, subject, body),
        status_code=201,
    )


@router.get(
    "/recipients",
    response_model=Page[RecipientPublic],
    summary="The agency's recipients (agency_admin)",
    responses={**CURSOR, **AUTH, **FORBIDDEN, **INVALID},
)
async def list_recipients(
    subject: Admin,
    session: SessionDep,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
    role: Annotated[Role | None, Query()] = None,
) -> Page[RecipientPublic]:
    return await recipient_service.page(
        session, subject, limit=limit, cursor=cursor, role=role.value if role else None
    )


@router.get(
    "/recipients/me",
    response_model=RecipientPublic,
    summary="The caller's own recipient record and preferences",
    responses={**AUTH, **MISSING},
)
async def my_recipient(subject: CurrentSubject, session: SessionDep) -> RecipientPublic:
    return await recipient_service.me(session, subject)


@router.put(
    "/recipients/me",
    response_model=RecipientPublic,
    summary="Register oneself or change one's preferences (language, channels, events, quiet hours)",
    responses={**AUTH, **INVALID},
)
async def set_my_preferences(
    body: Preferences, subject: CurrentSubject, session: SessionDep
) -> RecipientPublic:
    return await recipient_service.set_my_preferences(session, subject, body)


@router.get(
    "/recipients/{recipient_id}",
    response_model=RecipientPublic,
    summary="One recipient (agency_admin)",
    responses={**AUTH, **FORBIDDEN, **MISSING, **INVALID},
)
async def get_recipient(recipient_id: uuid.UUID, subject: Admin, session: SessionDep) -> RecipientPublic:
    return RecipientPublic.model_validate(
        await recipient_service.get(session, subject, recipient_id), from_attributes=True
    )


@router.patch(
    "/recipients/{recipient_id}",
    response_model=RecipientPublic,
    summary="Change a recipient's roles, contact or preferences (agency_admin)",
    responses={**AUTH, **FORBIDDEN, **MISSING, **INVALID},
)
async def change_recipient(
    recipient_id: uuid.UUID, body: RecipientUpdate, subject: Admin, session: SessionDep
) -> RecipientPublic:
    return await recipient_service.change(session, subject, recipient_id, body)


@router.api_route(
    "/recipients/{recipient_id}",
    methods=["DELETE"],
    status_code=204,
    summary="Remove a recipient (agency_admin)",
    responses={**AUTH, **FORBIDDEN, **MISSING, **INVALID},
)
async def remove_recipient(recipient_id: uuid.UUID, subject: Admin, session: SessionDep) -> Response:
    await recipient_service.remove(session, subject, recipient_id)
    return Response(status_code=204)


@router.get(
    "/preferences/agency",
    response_model=AgencyPreferencesPublic,
    summary="The caller's agency's default notification preferences",
    responses=AUTH,
)
async def agency_preferences(subject: CurrentSubject, session: SessionDep) -> AgencyPreferencesPublic:
    return await recipient_service.agency_preferences(session, subject)


@router.put(
    "/preferences/agency",
    response_model=AgencyPreferencesPublic,
    summary="Set the agency's defaults (agency_admin)",
    responses={**AUTH, **FORBIDDEN, **INVALID},
)
async def set_agency_preferences(
    body: AgencyPreferencesUpdate, subject: Admin, session: SessionDep
) -> AgencyPreferencesPublic:
    return await recipient_service.set_agency_preferences(session, subject, body)
