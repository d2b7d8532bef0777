from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from passage.auth import CurrentSubject
from passage.db import SessionDep
from passage.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page
from services.notifications.models import InAppNotificationPublic
from services.notifications.service import in_app_service

router = APIRouter(prefix="/v1", tags=["notifications"])


@router.get(
    "/notifications",
    response_model=Page[InAppNotificationPublic],
    summary="The caller's in-app notifications, newest first",
    responses={
        400: {"description": "The cursor is not valid"},
        401: {"description": "No valid bearer token"},
    },
)
async def list_notifications(
    subject: CurrentSubject,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Page[InAppNotificationPublic]:
    return await in_app_service.page(session, subject, limit=limit, cursor=cursor)
