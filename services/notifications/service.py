"""Notifications' business logic behind the API. It never commits: the request boundary does."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from passage.auth import AuthSubject
from passage.db import Database
from passage.errors import Conflict, NotFound, Unprocessable
from passage.pagination import Page, decode_cursor, encode_cursor
from services.notifications.dispatch import notification_settings
from services.notifications.models import AgencyPreferences, Delivery, Recipient, WebhookEndpoint
from services.notifications.outcomes import OutcomeRecorder
from services.notifications.repository import (
    DeliveryRepository,
    NotificationRepository,
    RecipientRepository,
    WebhookRepository,
)
from services.notifications.schemas import (
    AgencyPreferencesPublic,
    AgencyPreferencesUpdate,
    DeliveryPublic,
    InAppNotificationPublic,
    Preferences,
    RecipientCreate,
    RecipientPublic,
    RecipientUpdate,
    SecretRotated,
    WebhookCreate,
    WebhookCreated,
    WebhookPublic,
    WebhookUpdate,
)
from services.notifications.signing import SecretBox, new_secret, url_problem

STREAM_POLL_SECONDS = 0.5
STREAM_HEARTBEAT_SECONDS = 15.0


def _page(rows: list[Any], limit: int, public: Any) -> Page[Any]:
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(
        items=[public.model_validate(r, from_attributes=True) for r in rows],
        next_cursor=encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None,
    )


class InAppService:
    def __init__(self, repository: NotificationRepository) -> None:
        self._repository = repository

    async def page(
        self, session: AsyncSession, subject: AuthSubject, *, limit: int, cursor: str | None
    ) -> Page[InAppNotificationPublic]:
        before = decode_cursor(cursor) if cursor else None
        rows = list(await self._repository.page(session, subject, limit=limit + 1, before=before))
        more = len(rows) > limit
        rows = rows[:limit]
        items = [
            InAppNotificationPublic(
                id=n.id,
                kind=n.kind,
                resource=n.resource,
                title=n.title,
                language=n.language,
                created_at=n.created_at,
                read_at=read_at,
            )
            for n, read_at in rows
        ]
        last = rows[-1][0] if rows else None
        return Page(
            items=items, next_cursor=encode_cursor(last.created_at, last.id) if more and last else None
        )

    async def mark_read(
        self, session: AsyncSession, subject: AuthSubject, ids: list[uuid.UUID] | None
    ) -> int:
        return await self._repository.mark_read(session, subject, ids, datetime.now(UTC))

    async def stream(
        self, db: Database, subject: AuthSubject, last_event_id: str | None
    ) -> AsyncIterator[str]:
        """Server-sent events: one `notification` event per new notice, `id:` = the notice id."""
        async with db.sessionmaker() as session:
            position = None
            if last_event_id:
                try:
                    position = await self._repository.position(
                        session, subject, uuid.UUID(last_event_id.strip())
                    )
                except ValueError:
                    position = None
            if position is None:
                position = await self._repository.latest(session, subject)
        yield "retry: 2000\n\n"
        quiet = 0.0
        while True:
            async with db.sessionmaker() as session:
                fresh = list(await self._repository.after(session, subject, after=position, limit=100))
            for n in fresh:
                body = InAppNotificationPublic(
                    id=n.id,
                    kind=n.kind,
                    resource=n.resource,
                    title=n.title,
                    language=n.language,
                    created_at=n.created_at,
                    read_at=None,
                ).model_dump_json()
                yield f"id: {n.id}\nevent: notification\ndata: {body}\n\n"
                position = (n.created_at, n.id)
            if fresh:
                quiet = 0.0
                continue
            await asyncio.sleep(STREAM_POLL_SECONDS)
            quiet += STREAM_POLL_SECONDS
            if quiet >= STREAM_HEARTBEAT_SECONDS:
                quiet = 0.0
                yield ": keep-alive\n\n"


class RecipientService:
    def __init__(self, repository: RecipientRepository) -> None:
        self._repository = repository

    async def register(
        self, session: AsyncSession, subject: AuthSubject, body: RecipientCreate
    ) -> RecipientPublic:
        recipient = Recipient(agency_id=subject.agency, **self._values(body))
        if not await self._repository.add(session, recipient):
            raise Conflict(f"{body.user_sub!r} is already registered at {subject.agency}; PATCH it instead")
        return RecipientPublic.model_validate(recipient, from_attributes=True)

    async def page(
        self, session: AsyncSession, subject: AuthSubject, *, limit: int, cursor: str | None, role: str | None
    ) -> Page[RecipientPublic]:
        before = decode_cursor(cursor) if cursor else None
        rows = list(await self._repository.page(session, subject, limit=limit + 1, before=before, role=role))
        return _page(rows, limit, RecipientPublic)

    async def get(self, session: AsyncSession, subject: AuthSubject, recipient_id: uuid.UUID) -> Recipient:
        recipient = await self._repository.get(session, subject, recipient_id)
        if recipient is None:
            raise NotFound("No recipient with this id at your agency")
        return recipient

    async def change(
        self, session: AsyncSession, subject: AuthSubject, recipient_id: uuid.UUID, body: RecipientUpdate
    ) -> RecipientPublic:
        recipient = await self.get(session, subject, recipient_id)
        values = self._values(body, partial=True)
        cleared = [name for name in ("active", "roles") if name in values and values[name] is None]
        if cleared:
            raise Unprocessable(
                f"{', '.join(cleared)} cannot be cleared: leave them out to keep them, or send a value",
                errors=[
                    {"field": f"body.{n}", "message": "may not be null", "code": "null"} for n in cleared
                ],
            )
        recipient = await self._repository.change(
            session, recipient, {**values, "updated_at": datetime.now(UTC)}
        )
        return RecipientPublic.model_validate(recipient, from_attributes=True)

    async def remove(self, session: AsyncSession, subject: AuthSubject, recipient_id: uuid.UUID) -> None:
        await self._repository.remove(session, await self.get(session, subject, recipient_id))

    async def me(self, session: AsyncSession, subject: AuthSubject) -> RecipientPublic:
        recipient = await self._repository.get_by_sub(session, subject.agency, subject.sub)
        if recipient is None:
            raise NotFound(
                "You are not registered as a recipient yet; PUT /v1/recipients/me to choose how to hear"
            )
        return RecipientPublic.model_validate(recipient, from_attributes=True)

    async def set_my_preferences(
        self, session: AsyncSession, subject: AuthSubject, body: Preferences
    ) -> RecipientPublic:
        """A person registers themselves, or changes their choices; their roles come from their token."""
        recipient = await self._repository.get_by_sub(session, subject.agency, subject.sub)
        values = {
            **self._values(body, partial=True),
            "roles": sorted(subject.roles),
            "updated_at": datetime.now(UTC),
        }
        if recipient is None:
            recipient = Recipient(agency_id=subject.agency, user_sub=subject.sub, **values)
            await self._repository.add(session, recipient)
        else:
            recipient = await self._repository.change(session, recipient, values)
        return RecipientPublic.model_validate(recipient, from_attributes=True)

    async def agency_preferences(
        self, session: AsyncSession, subject: AuthSubject
    ) -> AgencyPreferencesPublic:
        prefs = await self._repository.agency_preferences(session, subject.agency)
        prefs = prefs or AgencyPreferences(agency_id=subject.agency)
        return AgencyPreferencesPublic.model_validate(prefs, from_attributes=True)

    async def set_agency_preferences(
        self, session: AsyncSession, subject: AuthSubject, body: AgencyPreferencesUpdate
    ) -> AgencyPreferencesPublic:
        prefs = AgencyPreferences(agency_id=subject.agency, updated_at=datetime.now(UTC), **body.model_dump())
        await self._repository.save_agency_preferences(session, prefs)
        return AgencyPreferencesPublic.model_validate(prefs, from_attributes=True)

    @staticmethod
    def _values(body: Any, *, partial: bool = False) -> dict[str, Any]:
        values: dict[str, Any] = body.model_dump(exclude_unset=partial)
        if values.get("roles") is not None:
            values["roles"] = sorted({str(r) for r in values["roles"]})
        for key in ("channels", "event_types"):
            if values.get(key) is not None:
                values[key] = sorted(set(values[key]))
        return values


class WebhookService:
    def __init__(self, repository: WebhookRepository, deliveries: DeliveryRepository) -> None:
        self._repository = repository
        self._deliveries = deliveries

    @staticmethod
    def _check_url(url: str, *, dev: bool) -> None:
        problem = url_problem(url, dev=dev)
        if problem:
            raise Unprocessable(
                f"The webhook URL {problem}",
                errors=[{"field": "body.url", "message": problem, "code": "webhook_url"}],
            )

    async def create(
        self, session: AsyncSession, subject: AuthSubject, body: WebhookCreate, *, box: SecretBox, dev: bool
    ) -> WebhookCreated:
        self._check_url(body.url, dev=dev)
        secret = new_secret()
        endpoint = WebhookEndpoint(
            agency_id=subject.agency,
            url=body.url,
            description=body.description,
            event_types=sorted(set(body.event_types)),
            secret_encrypted=box.seal(secret),
            created_by=subject.sub,
        )
        await self._repository.add(session, endpoint)
        public = WebhookPublic.model_validate(endpoint, from_attributes=True)
        return WebhookCreated(**public.model_dump(), secret=secret)

    async def page(
        self, session: AsyncSession, subject: AuthSubject, *, limit: int, cursor: str | None
    ) -> Page[WebhookPublic]:
        before = decode_cursor(cursor) if cursor else None
        return _page(
            list(await self._repository.page(session, subject, limit=limit + 1, before=before)),
            limit,
            WebhookPublic,
        )

    async def get(
        self, session: AsyncSession, subject: AuthSubject, endpoint_id: uuid.UUID
    ) -> WebhookEndpoint:
        endpoint = await self._repository.get(session, subject, endpoint_id)
        if endpoint is None:
            raise NotFound("No webhook endpoint with this id at your agency")
        return endpoint

    async def change(
        self,
        session: AsyncSession,
        subject: AuthSubject,
        endpoint_id: uuid.UUID,
        body: WebhookUpdate,
        *,
        dev: bool,
    ) -> WebhookPublic:
        endpoint = await self.get(session, subject, endpoint_id)
        if body.url is not None:
            self._check_url(body.url, dev=dev)
            endpoint.url = body.url
        if body.event_types is not None:
            endpoint.event_types = sorted(set(body.event_types))
        if body.description is not None:
            endpoint.description = body.description
        if body.enabled is not None and body.enabled != endpoint.enabled:
            endpoint.enabled = body.enabled
            endpoint.disabled_reason = None if body.enabled else f"disabled by {subject.sub}"
            endpoint.consecutive_failures = 0
        endpoint.updated_at = datetime.now(UTC)
        await self._repository.save(session, endpoint)
        return WebhookPublic.model_validate(endpoint, from_attributes=True)

    async def remove(self, session: AsyncSession, subject: AuthSubject, endpoint_id: uuid.UUID) -> None:
        endpoint = await self.get(session, subject, endpoint_id)
        await self._deliveries.dead_letter_open_for_endpoint(session, endpoint.id, "the endpoint was deleted")
        await self._repository.remove(session, endpoint)

    async def rotate(
        self,
        session: AsyncSession,
        subject: AuthSubject,
        endpoint_id: uuid.UUID,
        overlap: int | None,
        *,
        box: SecretBox,
    ) -> SecretRotated:
        endpoint = await self.get(session, subject, endpoint_id)
        seconds = notification_settings().rotation_overlap_seconds if overlap is None else overlap
        secret = new_secret()
        endpoint.previous_secret_encrypted = endpoint.secret_encrypted if seconds else None
        endpoint.previous_secret_expires_at = (
            datetime.now(UTC) + timedelta(seconds=seconds) if seconds else None
        )
        endpoint.secret_encrypted = box.seal(secret)
        endpoint.updated_at = datetime.now(UTC)
        await self._repository.save(session, endpoint)
        return SecretRotated(
            id=endpoint.id, secret=secret, previous_secret_expires_at=endpoint.previous_secret_expires_at
        )

    async def send_test(
        self,
        session: AsyncSession,
        subject: AuthSubject,
        endpoint_id: uuid.UUID,
        *,
        sender: Any,
        recorder: OutcomeRecorder,
    ) -> DeliveryPublic:
        """Sends a signed `webhook.test` event now, once, and answers with how it went."""
        import json

        endpoint = await self.get(session, subject, endpoint_id)
        delivery_id = uuid.uuid4()
        now = datetime.now(UTC)
        msg_id = f"msg_{delivery_id.hex}"
        body = {
            "type": "webhook.test",
            "timestamp": now.isoformat(),
            "data": {"endpoint_id": str(endpoint.id), "delivery_id": str(delivery_id)},
        }
        delivery = Delivery(
            id=delivery_id,
            agency_id=endpoint.agency_id,
            channel="webhook",
            recipient_key=f"webhook:{endpoint.id}",
            endpoint_id=endpoint.id,
            source_event_id=uuid.uuid4(),
            source_event_type="webhook.test",
            source_event_time=now,
            message={"msg_id": msg_id, "body": json.dumps(body, separators=(",", ":"), sort_keys=True)},
            state="sending",
            max_attempts=1,
            lease_until=now + timedelta(minutes=5),
        )
        await self._deliveries.plan(session, delivery)
        outcome = await sender.send(delivery, await sender.load(session, [delivery]))
        recorded = await recorder.record(session, delivery.id, outcome)
        return DeliveryPublic.model_validate(recorded or delivery, from_attributes=True)


class DeliveryService:
    def __init__(self, repository: DeliveryRepository) -> None:
        self._repository = repository

    async def page(
        self,
        session: AsyncSession,
        subject: AuthSubject,
        *,
        limit: int,
        cursor: str | None,
        state: str | None,
        endpoint_id: uuid.UUID | None,
    ) -> Page[DeliveryPublic]:
        before = decode_cursor(cursor) if cursor else None
        rows = await self._repository.page(
            session, subject, limit=limit + 1, before=before, state=state, endpoint_id=endpoint_id
        )
        return _page(list(rows), limit, DeliveryPublic)

    async def get(self, session: AsyncSession, subject: AuthSubject, delivery_id: uuid.UUID) -> Delivery:
        delivery = await self._repository.get(session, subject, delivery_id)
        if delivery is None:
            raise NotFound("No delivery with this id at your agency")
        return delivery

    async def replay(
        self,
        session: AsyncSession,
        subject: AuthSubject,
        delivery_id: uuid.UUID,
        endpoints: WebhookRepository,
    ) -> DeliveryPublic:
        delivery = await self.get(session, subject, delivery_id)
        if delivery.state != "dead_lettered":
            raise Conflict(f"Only dead letters can be replayed; this delivery is {delivery.state}")
        if delivery.endpoint_id is not None:
            endpoint = await endpoints.by_id(session, delivery.endpoint_id)
            if endpoint is None:
                raise Conflict("The webhook endpoint of this delivery was deleted")
            if not endpoint.enabled:
                raise Conflict("The webhook endpoint is disabled; enable it (PATCH enabled=true) first")
        now = datetime.now(UTC)
        delivery.state, delivery.attempts, delivery.next_attempt_at = "pending", 0, now
        delivery.max_attempts = max(delivery.max_attempts, notification_settings().max_attempts)
        delivery.updated_at = now
        delivery.history = [*delivery.history, {"at": now.isoformat(), "replayed_by": subject.sub}][-20:]
        await self._repository.save(session, delivery)
        await self._repository.wake(session)
        return DeliveryPublic.model_validate(delivery, from_attributes=True)


in_app_service = InAppService(NotificationRepository())
recipient_service = RecipientService(RecipientRepository())
webhook_service = WebhookService(WebhookRepository(), DeliveryRepository())
delivery_service = DeliveryService(DeliveryRepository())
