from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from passage.auth import AuthSubject, Role, require_roles
from passage.db import SessionDep
from services.scoring.models import ClientSchedule, ScheduledAssessmentPublic
from services.scoring.service import schedule_service

router = APIRouter(prefix="/v1", tags=["schedules"])

ScheduleRead = Annotated[
    AuthSubject,
    Depends(require_roles(Role.CASE_WORKER, Role.SUPERVISOR, Role.AGENCY_ADMIN, Role.PARTNER_SYSTEM)),
]


@router.get(
    "/clients/{client_id}/schedule",
    response_model=ClientSchedule,
    summary="The assessments a client of the caller's agency is due for",
    responses={401: {"description": "No valid bearer token"}, 403: {"description": "Role not allowed"}},
)
async def client_schedule(client_id: uuid.UUID, subject: ScheduleRead, session: SessionDep) -> ClientSchedule:
    items = await schedule_service.for_client(session, subject, client_id)
    return ClientSchedule(
        client_id=client_id,
        items=[ScheduledAssessmentPublic.model_validate(i, from_attributes=True) for i in items],
    )
