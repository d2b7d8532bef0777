"""HTTP only: webhook endpoints and deliveries. Logic lives in service.py."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from passage.db import SessionDep
from passage.idempotency import IdempotencyKey
from passage.pagination import DEFAULT_PAGE_SIZE, Page
from services.notifications.idempotent import respond, respond_with_secret
from services.notifications.repository import WebhookRepository
from services.notifications.routes import (
    AUTH,
    CONFLICT,
    CURSOR,
    FORBIDDEN,
    IDEMPOTENT,
    INVALID,
    MISSING,
    Cursor,
    DeliveryReader,
    Limit,
    WebhookManager,
)
from services.notifications.schemas import (
    DeliveryPublic,
    DeliveryState,
    SecretRotate,
    SecretRotated,
    WebhookCreate,
    WebhookCreated,
    WebhookPublic,
    WebhookUpdate,
)
from services.notifications.service import delivery_service, webhook_service

router = APIRouter(prefix="/v1", tags=["notifications"])


# ------------------------------------------------------------------------------------- webhooks


@router.post(
    "/webhooks",
    response_model=WebhookCreated,
    status_code=201,
    summary="Register a webhook endpoint; the answer holds its secret, shown only this once",
    description="Standard Webhooks: each message carries `webhook-id`, `webhook-timestamp` and "
    "`webhook-signature` (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body` keyed with the base64-decoded "
    "secret after `whsec_`). URLs must be https (loopback only in development).",
    responses={**AUTH, **FORBIDDEN, **IDEMPOTENT},
)
async def create_webhook(
    body: WebhookCreate,
    request: Request,
    subject: WebhookManager,
    session: SessionDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    state = request.app.state
    return await respond_with_secret(
        session,
        request,
        subject,
        key,
        lambda: webhook_service.create(
            session, subject, body, box=state.secret_box, dev=state.settings.is_dev
        ),
        box=state.secret_box,
        status_code=201,
    )


@router.get(
    "/webhooks",
    response_model=Page[WebhookPublic],
    summary="The agency's webhook endpoints",
    responses={**CURSOR, **AUTH, **FORBIDDEN, **INVALID},
)
async def list_webhooks(
    subject: WebhookManager, session: SessionDep, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> Page[WebhookPublic]:
    return await webhook_service.page(session, subject, limit=limit, cursor=cursor)


@router.get(
    "/webhooks/{endpoint_id}",
    response_model=WebhookPublic,
    summary="One webhook endpoint (never its secret)",
    responses={**AUTH, **FORBIDDEN, **MISSING, **INVALID},
)
async def get_webhook(endpoint_id: uuid.UUID, subject: WebhookManager, session: SessionDep) -> WebhookPublic:
    return WebhookPublic.model_validate(
        await webhook_service.get(session, subject, endpoint_id), from_attributes=True
    )


@router.patch(
    "/webhooks/{endpoint_id}",
    response_model=WebhookPublic,
    summary="Change an endpoint's URL, event types or description, or enable it again",
    responses={**AUTH, **FORBIDDEN, **MISSING, **INVALID},
)
async def change_webhook(
    endpoint_id: uuid.UUID,
    body: WebhookUpdate,
    request: Request,
    subject: WebhookManager,
    session: SessionDep,
) -> WebhookPublic:
    return await webhook_service.change(
        session, subject, endpoint_id, body, dev=request.app.state.settings.is_dev
    )


@router.api_route(
    "/webhooks/{endpoint_id}",
    methods=["DELETE"],
    status_code=204,
    summary="Delete an endpoint; its undelivered messages become dead letters",
    responses={**AUTH, **FORBIDDEN, **MISSING, **INVALID},
)
async def delete_webhook(endpoint_id: uuid.UUID, subject: WebhookManager, session: SessionDep) -> Response:
    await webhook_service.remove(session, subject, endpoint_id)
    return Response(status_code=204)


@router.post(
    "/webhooks/{endpoint_id}/rotate-secret",
    response_model=SecretRotated,
    summary="New secret (shown once); the old one also signs until the overlap ends",
    responses={**AUTH, **FORBIDDEN, **MISSING, **IDEMPOTENT},
)
async def rotate_webhook_secret(
    endpoint_id: uuid.UUID,
    body: SecretRotate,
    request: Request,
    subject: WebhookManager,
    session: SessionDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    box = request.app.state.secret_box
    return await respond_with_secret(
        session,
        request,
        subject,
        key,
        lambda: webhook_service.rotate(session, subject, endpoint_id, body.overlap_seconds, box=box),
        box=box,
    )


@router.post(
    "/webhooks/{endpoint_id}/test",
    response_model=DeliveryPublic,
    summary="Send a signed `webhook.test` event now and answer with the delivery's outcome",
    responses={**AUTH, **FORBIDDEN, **MISSING, **IDEMPOTENT},
)
async def send_test_event(
    endpoint_id: uuid.UUID,
    request: Request,
    subject: WebhookManager,
    session: SessionDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    state = request.app.state
    return await respond(
        session,
        request,
        subject,
        key,
        lambda: webhook_service.send_test(
            session, subject, endpoint_id, sender=state.delivery_sender, recorder=state.outcome_recorder
        ),
    )


# ----------------------------------------------------------------------------------- deliveries


@router.get(
    "/deliveries",
    response_model=Page[DeliveryPublic],
    summary="The agency's deliveries, newest first; filter by state (e.g. dead_lettered)",
    responses={**CURSOR, **AUTH, **FORBIDDEN, **INVALID},
)
async def list_deliveries(
    subject: DeliveryReader,
    session: SessionDep,
    state: Annotated[DeliveryState | None, Query()] = None,
    endpoint_id: Annotated[uuid.UUID | None, Query()] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Page[DeliveryPublic]:
    return await delivery_service.page(
        session, subject, limit=limit, cursor=cursor, state=state, endpoint_id=endpoint_id
    )


@router.get(
    "/deliveries/{delivery_id}",
    response_model=DeliveryPublic,
    summary="One delivery with its attempts",
    responses={**AUTH, **FORBIDDEN, **MISSING, **INVALID},
)
async def get_delivery(
    delivery_id: uuid.UUID, subject: DeliveryReader, session: SessionDep
) -> DeliveryPublic:
    return DeliveryPublic.model_validate(
        await delivery_service.get(session, subject, delivery_id), from_attributes=True
    )


@router.post(
    "/deliveries/{delivery_id}/replay",
    response_model=DeliveryPublic,
    summary="Send a dead letter again (a fresh series of tries)",
    responses={**AUTH, **FORBIDDEN, **MISSING, **CONFLICT, **IDEMPOTENT},
)
async def replay_delivery(
    delivery_id: uuid.UUID,
    request: Request,
    subject: WebhookManager,
    session: SessionDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    return await respond(
        session,
        request,
        subject,
        key,
        lambda: delivery_service.replay(session, subject, delivery_id, WebhookRepository()),
    )
