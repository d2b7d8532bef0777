"""Sends one delivery over its channel. No database session is held while a message is on the wire.

What a send needs from the database (the webhook endpoint and its secrets, the staff member's
address) is loaded for a whole claimed batch in two queries (`Sender.load`), then each send runs
on its own; the client's phone for an SMS reminder is asked from intake at the last moment.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications.adapters import Attempt, OriginClients, SmsSender, SmtpSender, WebhookSender
from services.notifications.dispatch import catalogue
from services.notifications.models import Delivery, Recipient, WebhookEndpoint
from services.notifications.repository import RecipientRepository, WebhookRepository
from services.notifications.settings import NotificationSettings
from services.notifications.signing import SecretBox

_SECRET_CACHE_SIZE = 1024


@dataclass(frozen=True)
class Skip:
    """Nothing to send, for a reason that will not change by retrying."""

    reason: str


Outcome = Attempt | Skip


@dataclass
class Contacts:
    """The endpoints and recipients a batch of deliveries goes to, as read when it was claimed."""

    endpoints: dict[uuid.UUID, WebhookEndpoint] = field(default_factory=dict)
    recipients: dict[uuid.UUID, Recipient] = field(default_factory=dict)


class Sender:
    def __init__(
        self,
        settings: NotificationSettings,
        secret_box: SecretBox,
        http: httpx.AsyncClient,
        intake: httpx.AsyncClient | None,
        webhook_clients: OriginClients,
    ) -> None:
        self._settings = settings
        self._box = secret_box
        self._origins = webhook_clients
        self._webhooks = WebhookSender(webhook_clients)
        self._smtp = SmtpSender(settings)
        self._sms = SmsSender(settings, http)
        self._intake = intake
        self._endpoints = WebhookRepository()
        self._recipients = RecipientRepository()
        self._secrets: dict[str, str] = {}  # sealed -> open; decrypting once per secret, not per send

    async def load(self, session: AsyncSession, deliveries: Sequence[Delivery]) -> Contacts:
        endpoint_ids = {d.endpoint_id for d in deliveries if d.endpoint_id is not None}
        recipient_ids = {d.recipient_id for d in deliveries if d.recipient_id is not None}
        return Contacts(
            endpoints={e.id: e for e in await self._endpoints.by_ids(session, endpoint_ids)},
            recipients={r.id: r for r in await self._recipients.by_ids(session, recipient_ids)},
        )

    def lane(self, delivery: Delivery, contacts: Contacts) -> AbstractAsyncContextManager[Any]:
        """What caps sends side by side to one place: the webhook's origin; nothing for the rest."""
        endpoint = contacts.endpoints.get(delivery.endpoint_id) if delivery.endpoint_id else None
        if delivery.channel == "webhook" and endpoint is not None:
            return self._origins.lane(endpoint.url)
        return contextlib.nullcontext()

    async def send(self, delivery: Delivery, contacts: Contacts) -> Outcome:
        try:
            return await self._send(delivery, contacts)
        except Exception as exc:  # a bug or a surprise in an adapter: try again later, never lose it
            return Attempt(ok=False, retryable=True, error=f"unexpected: {type(exc).__name__}")

    async def _send(self, delivery: Delivery, contacts: Contacts) -> Outcome:
        if delivery.channel == "webhook":
            endpoint = contacts.endpoints.get(delivery.endpoint_id) if delivery.endpoint_id else None
            return await self._webhook(delivery, endpoint)
        if delivery.channel == "sms" and delivery.client_id is not None:
            return await self._client_sms(delivery)
        recipient = contacts.recipients.get(delivery.recipient_id) if delivery.recipient_id else None
        if recipient is None or not recipient.active:
            return Skip("the recipient is no longer registered or active")
        if delivery.channel == "email":
            if not recipient.email:
                return Skip("the recipient has no email address")
            m = delivery.message
            return await self._smtp.send(
                recipient.email,
                subject=m["subject"],
                text=m["text"],
                html=m["html"],
                language=delivery.language,
            )
        if not recipient.phone:
            return Skip("the recipient has no phone number")
        return await self._sms.send(recipient.phone, text=delivery.message["text"], msg_id=str(delivery.id))

    def _open(self, sealed: str) -> str:
        opened = self._secrets.get(sealed)
        if opened is None:
            if len(self._secrets) >= _SECRET_CACHE_SIZE:
                self._secrets.clear()
            opened = self._secrets[sealed] = self._box.open(sealed)
        return opened

    async def _webhook(self, delivery: Delivery, endpoint: WebhookEndpoint | None) -> Outcome:
        if endpoint is None:
            return Skip("the webhook endpoint was deleted")
        if not endpoint.enabled and delivery.source_event_type != "webhook.test":
            return Attempt(ok=False, retryable=False, error="the endpoint is disabled")
        secrets = [self._open(endpoint.secret_encrypted)]
        expires = endpoint.previous_secret_expires_at
        if endpoint.previous_secret_encrypted and expires and expires > datetime.now(UTC):
            secrets.append(self._open(endpoint.previous_secret_encrypted))
        m = delivery.message
        return await self._webhooks.send(endpoint.url, msg_id=m["msg_id"], body=m["body"], secrets=secrets)

    async def _client_sms(self, delivery: Delivery) -> Outcome:
        if self._intake is None:
            return Attempt(ok=False, retryable=True, error="intake is not reachable from this process")
        try:
            response = await self._intake.get(f"/v1/clients/{delivery.client_id}")
        except httpx.HTTPError as exc:
            return Attempt(ok=False, retryable=True, error=f"intake: {type(exc).__name__}")
        if response.status_code in (403, 404, 410):
            return Skip(f"intake answered {response.status_code} for the client")
        if response.status_code != 200:
            return Attempt(
                ok=False, retryable=True, status_code=response.status_code, error="intake lookup failed"
            )
        client: dict[str, Any] = response.json()
        if client.get("status") not in (None, "open"):
            return Skip("the client's file is not open")
        if client.get("preferred_contact_channel") not in ("sms", None) or not client.get("phone"):
            return Skip("the client prefers another channel or has no phone")
        notice = delivery.message["notice"]
        rendered = catalogue().render(
            notice, "sms", client.get("preferred_language"), delivery.message["context"]
        )
        return await self._sms.send(str(client["phone"]), text=rendered.text, msg_id=str(delivery.id))
