"""From a notice ("referral 123 is overdue, tell the receiving agency's supervisors") to in-app
notices and planned deliveries, honouring each person's preferences. Nothing is sent here: the
delivery worker sends what this plans, after the transaction commits."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications.models import (
    AgencyPreferences,
    Delivery,
    InAppNotification,
    Recipient,
    new_delivery_row,
)
from services.notifications.repository import (
    DeliveryRepository,
    NotificationRepository,
    RecipientRepository,
    WebhookRepository,
)
from services.notifications.schemas import WEBHOOK_EVENT_TYPES
from services.notifications.settings import NotificationSettings
from services.notifications.templates import TemplateCatalogue

_DEFAULT_PREFS = AgencyPreferences(agency_id="", language="en", channels=["in_app", "email"], timezone="UTC")


@lru_cache(maxsize=1)
def notification_settings() -> NotificationSettings:
    return NotificationSettings()


@lru_cache(maxsize=1)
def catalogue() -> TemplateCatalogue:
    return TemplateCatalogue()


def reference(resource_id: uuid.UUID | str) -> str:
    """A short, non-identifying reference of a record for message bodies."""
    return str(resource_id).split("-", 1)[0]


@dataclass(frozen=True)
class Notice:
    notice_type: str  # the template key, usually the event type
    event_id: uuid.UUID
    event_type: str
    event_time: datetime
    agency: str
    resource_type: str  # "referral", "client", "consent", "webhook_endpoint"
    resource_id: uuid.UUID
    roles: frozenset[str] | None = None  # who at the agency; None = all staff
    users: tuple[str, ...] = ()  # named people (a case worker), in addition to the roles
    context: dict[str, Any] = field(default_factory=dict)  # template variables (codes, dates)
    webhook_data: dict[str, Any] = field(default_factory=dict)  # codes for the thin webhook payload
    people: bool = True  # False: partner systems only

    @property
    def resource(self) -> str:
        return f"{self.resource_type}/{self.resource_id}"


def graphql_url(settings: NotificationSettings) -> str:
    """Where a person or a partner reads the details: the gateway, where consent and SOPs apply."""
    return f"{settings.gateway_url.rstrip('/')}/graphql"


def links(settings: NotificationSettings, resource_type: str, resource_id: uuid.UUID) -> dict[str, str]:
    """The thin payload's pointer: the gateway's GraphQL endpoint and what to ask it for
    (agreed with the gateway: `referral(id:)`, `client(id:)`, ... with the caller's own token)."""
    return {"graphql": graphql_url(settings), "resource": resource_type, "id": str(resource_id)}


def webhook_body(notice: Notice, settings: NotificationSettings, *, msg_id: str) -> str:
    """The thin Standard Webhooks payload: type, time, ids and codes, and links. No personal data."""
    data = {
        "event_id": str(notice.event_id),
        "resource": {"type": notice.resource_type, "id": str(notice.resource_id)},
        **notice.webhook_data,
        "links": links(settings, notice.resource_type, notice.resource_id),
    }
    payload = {"type": notice.event_type, "timestamp": notice.event_time.isoformat(), "data": data}
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str)


def _in_quiet_hours(now: datetime, start: Any, end: Any, tz: str) -> datetime | None:
    """When quiet hours end, if `now` falls within them; None otherwise."""
    if start is None or end is None or start == end:
        return None
    local = now.astimezone(ZoneInfo(tz))
    t = local.time().replace(tzinfo=None)
    inside = (start <= t < end) if start < end else (t >= start or t < end)
    if not inside:
        return None
    ends = local.replace(hour=end.hour, minute=end.minute, second=end.second, microsecond=0)
    if ends <= local:
        ends += timedelta(days=1)
    return ends.astimezone(UTC)


class Dispatcher:
    def __init__(self) -> None:
        self._notices = NotificationRepository()
        self._recipients = RecipientRepository()
        self._webhooks = WebhookRepository()
        self._deliveries = DeliveryRepository()

    async def dispatch(self, session: AsyncSession, notice: Notice) -> int:
        """Plan everything `notice` calls for; returns how many notices and deliveries were new."""
        settings = notification_settings()
        planned = 0
        if notice.event_type in WEBHOOK_EVENT_TYPES:
            planned += await self._to_webhooks(session, notice, settings)
        if notice.people:
            planned += await self._to_people(session, notice, settings)
        return planned

    async def _to_webhooks(
        self, session: AsyncSession, notice: Notice, settings: NotificationSettings
    ) -> int:
        planned: list[dict[str, Any]] = []
        now = datetime.now(UTC)
        for endpoint in await self._webhooks.subscribed(session, notice.agency, notice.event_type):
            delivery_id = uuid.uuid4()
            # webhook-id stays the same on every retry, so receivers can drop duplicates.
            msg_id = f"msg_{delivery_id.hex}"
            planned.append(
                new_delivery_row(
                    id=delivery_id,
                    agency_id=notice.agency,
                    channel="webhook",
                    recipient_key=f"webhook:{endpoint.id}",
                    endpoint_id=endpoint.id,
                    source_event_id=notice.event_id,
                    source_event_type=notice.event_type,
                    source_event_time=notice.event_time,
                    message={"msg_id": msg_id, "body": webhook_body(notice, settings, msg_id=msg_id)},
                    max_attempts=settings.max_attempts,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
        return await self._deliveries.plan_many(session, planned)

    async def _to_people(self, session: AsyncSession, notice: Notice, settings: NotificationSettings) -> int:
        prefs = await self._recipients.agency_preferences(session, notice.agency) or _DEFAULT_PREFS
        if prefs.event_types is not None and notice.notice_type not in prefs.event_types:
            return 0
        people: dict[str, Recipient | None] = {}
        if notice.roles is not None or not notice.users:
            for r in await self._recipients.with_roles(session, notice.agency, notice.roles):
                people[r.user_sub] = r
        for sub in notice.users:
            people.setdefault(sub, await self._recipients.get_by_sub(session, notice.agency, sub))
        registered = [r for r in people.values() if r is not None]
        planned = 0
        if not registered and (notice.roles is not None or not notice.users):
            # Nobody registered to hear it: the agency's staff holding the roles see it in the app.
            planned += await self._in_app(
                session, notice, user=None, language=prefs.language, roles=notice.roles
            )
        for sub, recipient in people.items():
            if recipient is None:
                planned += await self._in_app(session, notice, user=sub, language=prefs.language, roles=None)
            elif recipient.active:
                planned += await self._to_recipient(session, notice, recipient, prefs, settings)
        return planned

    async def _to_recipient(
        self,
        session: AsyncSession,
        notice: Notice,
        recipient: Recipient,
        prefs: AgencyPreferences,
        settings: NotificationSettings,
    ) -> int:
        wanted = recipient.event_types if recipient.event_types is not None else prefs.event_types
        if wanted is not None and notice.notice_type not in wanted:
            return 0
        language = recipient.language or prefs.language
        channels = recipient.channels if recipient.channels is not None else prefs.channels
        planned = 0
        cat = catalogue()
        if "in_app" in channels and cat.has(notice.notice_type, "in_app"):
            planned += await self._in_app(
                session, notice, user=recipient.user_sub, language=language, roles=None
            )
        now = datetime.now(UTC)
        start = recipient.quiet_hours_start or prefs.quiet_hours_start
        end = recipient.quiet_hours_end or prefs.quiet_hours_end
        not_before = _in_quiet_hours(now, start, end, recipient.timezone or prefs.timezone) or now
        context = self._context(notice, settings)
        for channel, address in (("email", recipient.email), ("sms", recipient.phone)):
            if channel not in channels or not address or not cat.has(notice.notice_type, channel):
                continue
            rendered = cat.render(notice.notice_type, channel, language, context)
            message = (
                {"subject": rendered.subject, "text": rendered.text, "html": rendered.html}
                if channel == "email"
                else {"text": rendered.text}
            )
            planned += await self._deliveries.plan(
                session,
                Delivery(
                    agency_id=notice.agency,
                    channel=channel,
                    recipient_key=f"{channel}:{recipient.id}:{notice.notice_type}",
                    recipient_id=recipient.id,
                    source_event_id=notice.event_id,
                    source_event_type=notice.event_type,
                    source_event_time=notice.event_time,
                    language=rendered.language,
                    message=message,
                    max_attempts=settings.max_attempts,
                    next_attempt_at=not_before,
                ),
            )
        return planned

    def _context(self, notice: Notice, settings: NotificationSettings) -> dict[str, Any]:
        return {
            "reference": reference(notice.resource_id),
            "link": graphql_url(settings),
            "event_type": notice.event_type,
            **notice.context,
        }

    async def _in_app(
        self,
        session: AsyncSession,
        notice: Notice,
        *,
        user: str | None,
        language: str,
        roles: frozenset[str] | None,
    ) -> int:
        cat = catalogue()
        title = ""
        lang = language
        if cat.has(notice.notice_type, "in_app"):
            rendered = cat.render(
                notice.notice_type, "in_app", language, self._context(notice, notification_settings())
            )
            title, lang = rendered.title, rendered.language
        return int(
            await self._notices.record(
                session,
                InAppNotification(
                    recipient_agency=notice.agency,
                    recipient_user=user,
                    recipient_roles=sorted(roles) if roles is not None else None,
                    kind=notice.notice_type,
                    resource=notice.resource,
                    title=title,
                    language=lang,
                    source_event_id=notice.event_id,
                    source_event_time=notice.event_time,
                ),
            )
        )

    async def plan_client_sms(
        self, session: AsyncSession, notice: Notice, *, client_id: uuid.UUID, settings: NotificationSettings
    ) -> int:
        """An SMS to the client, rendered when sent: its language and number are asked from intake then."""
        return int(
            await self._deliveries.plan(
                session,
                Delivery(
                    agency_id=notice.agency,
                    channel="sms",
                    recipient_key=f"sms:client:{client_id}:{notice.notice_type}",
                    client_id=client_id,
                    source_event_id=notice.event_id,
                    source_event_type=notice.event_type,
                    source_event_time=notice.event_time,
                    message={
                        "notice": notice.notice_type,
                        "context": {k: str(v) for k, v in notice.context.items()},
                    },
                    max_attempts=settings.max_attempts,
                    next_attempt_at=datetime.now(UTC),
                ),
            )
        )


dispatcher = Dispatcher()
