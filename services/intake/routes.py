"""Intake's REST routes: no logic here, only HTTP."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response, status

from passage.auth import AuthSubject, Role, require_roles
from passage.db import SessionDep
from services.intake.models import ClientCreate, ClientPublic
from services.intake.service import client_service

router = APIRouter(prefix="/v1", tags=["clients"])

_CASE_ROLES = (Role.CASE_WORKER, Role.SUPERVISOR, Role.AGENCY_ADMIN, Role.PARTNER_SYSTEM)
ClientsWrite = Annotated[AuthSubject, Depends(require_roles(*_CASE_ROLES))]
ClientsRead = Annotated[AuthSubject, Depends(require_roles(*_CASE_ROLES, Role.DATA_PROTECTION_OFFICER))]

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No valid bearer token"},
    403: {"description": "The caller's role may not do this"},
    422: {"description": "A field is not valid; `errors` names it"},
}


@router.post(
    "/clients",
    status_code=status.HTTP_201_CREATED,
    response_model=ClientPublic,
    summary="Register a client in the caller's agency",
    responses=_PROBLEMS,
)
async def register_client(
    body: ClientCreate, subject: ClientsWrite, session: SessionDep, response: Response
) -> ClientPublic:
    client = await client_service.register(session, subject, body)
    response.headers["Location"] = f"/v1/clients/{client.id}"
    return ClientPublic.model_validate(client, from_attributes=True)


@router.get(
    "/clients/{client_id}",
    response_model=ClientPublic,
    summary="Read one of the caller's agency's clients",
    responses={**_PROBLEMS, 404: {"description": "No such client in the caller's agency"}},
)
async def get_client(client_id: uuid.UUID, subject: ClientsRead, session: SessionDep) -> ClientPublic:
    client = await client_service.get(session, subject, client_id)
    return ClientPublic.model_validate(client, from_attributes=True)
