"""The notifications API's request and response shapes."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, time
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from passage.auth import Role
from passage.text import SingleLine

Channel = Literal["email", "sms", "webhook", "in_app"]
StaffChannel = Literal["email", "sms", "in_app"]
DeliveryState = Literal["pending", "sending", "retrying", "succeeded", "dead_lettered", "skipped"]

# What a partner system may subscribe a webhook to. Each is sent to the agencies the event concerns.
WebhookEventType = Literal[
    "referrals.referral.requested",
    "referrals.referral.accepted",
    "referrals.referral.rejected",
    "referrals.referral.started",
    "referrals.referral.completed",
    "referrals.referral.cancelled",
    "referrals.referral.on_hold",
    "referrals.referral.transferred",
    "referrals.referral.overdue",
    "intake.client.registered",
    "intake.client.updated",
    "intake.client.closed",
    "intake.consent.granted",
    "intake.consent.withdrawn",
    "scoring.followup.due",
    "notifications.endpoint.disabled",
]
WEBHOOK_EVENT_TYPES: tuple[str, ...] = get_args(WebhookEventType)
# Notices people (not systems) may choose to hear or mute.
NOTICE_TYPES = (
    *WEBHOOK_EVENT_TYPES[:10],
    "reminders.consent.expiring",
    "reminders.document.expiring",
    "gateway.breakglass.started",
)

_LANGUAGE = re.compile(r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$")
_PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")
_EMAIL = re.compile(r"^[^@\s\x00-\x1f]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")


def _language(value: str) -> str:
    if not _LANGUAGE.match(value):
        raise ValueError("must be a BCP 47 language tag such as 'en', 'fr' or 'ar-EG'")
    return value


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be an IANA time zone such as 'Africa/Dakar'") from None
    return value


def _phone(value: str) -> str:
    if not _PHONE.match(value):
        raise ValueError("must be an E.164 number such as +221770000000")
    return value


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError("must be an email address")
    return value


Language = Annotated[str, Field(max_length=16, examples=["fr"]), AfterValidator(_language)]
TimeZone = Annotated[str, Field(max_length=64, examples=["Africa/Dakar"]), AfterValidator(_timezone)]
Phone = Annotated[str, Field(max_length=16, examples=["+221770000000"]), AfterValidator(_phone)]
Email = Annotated[str, Field(max_length=320, examples=["amina@harbour-aid.example"]), AfterValidator(_email)]
NoticeType = Literal[
    "referrals.referral.requested",
    "referrals.referral.accepted",
    "referrals.referral.rejected",
    "referrals.referral.started",
    "referrals.referral.completed",
    "referrals.referral.cancelled",
    "referrals.referral.on_hold",
    "referrals.referral.transferred",
    "referrals.referral.overdue",
    "intake.client.registered",
    "scoring.followup.due",
    "reminders.consent.expiring",
    "reminders.document.expiring",
    "gateway.breakglass.started",
    "notifications.endpoint.disabled",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _QuietHours(_Strict):
    @model_validator(mode="after")
    def _both_or_neither(self) -> Any:
        start, end = getattr(self, "quiet_hours_start", None), getattr(self, "quiet_hours_end", None)
        if (start is None) != (end is None):
            raise ValueError("give both quiet_hours_start and quiet_hours_end, or neither")
        return self


class Preferences(_QuietHours):
    """How a person wants to hear things. Omitted choices fall back to the agency's."""

    language: Language | None = None
    channels: list[StaffChannel] | None = Field(default=None, max_length=3, examples=[["in_app", "email"]])
    event_types: list[NoticeType] | None = Field(
        default=None,
        max_length=len(NOTICE_TYPES),
        description="What to hear; null = everything for the roles",
    )
    quiet_hours_start: time | None = Field(default=None, examples=["21:00:00"])
    quiet_hours_end: time | None = Field(default=None, examples=["07:00:00"])
    timezone: TimeZone | None = None


class RecipientCreate(Preferences):
    user_sub: SingleLine = Field(min_length=1, max_length=200, description="The `sub` of the person's tokens")
    roles: list[Role] = Field(min_length=1, max_length=7, examples=[["case_worker"]])
    email: Email | None = None
    phone: Phone | None = None


class RecipientUpdate(Preferences):
    roles: list[Role] | None = Field(default=None, min_length=1, max_length=7)
    email: Email | None = None
    phone: Phone | None = None
    active: bool | None = None


class RecipientPublic(BaseModel):
    id: uuid.UUID
    agency_id: str
    user_sub: str
    roles: list[str]
    email: str | None
    phone: str | None
    language: str | None
    channels: list[str] | None
    event_types: list[str] | None
    quiet_hours_start: time | None
    quiet_hours_end: time | None
    timezone: str | None
    active: bool
    created_at: datetime
    updated_at: datetime


class AgencyPreferencesUpdate(_QuietHours):
    language: Language = "en"
    channels: list[StaffChannel] = Field(default=["in_app", "email"], max_length=3)
    event_types: list[NoticeType] | None = Field(default=None, max_length=len(NOTICE_TYPES))
    quiet_hours_start: time | None = None
    quiet_hours_end: time | None = None
    timezone: TimeZone = "UTC"


class AgencyPreferencesPublic(BaseModel):
    agency_id: str
    language: str
    channels: list[str]
    event_types: list[str] | None
    quiet_hours_start: time | None
    quiet_hours_end: time | None
    timezone: str


class WebhookCreate(_Strict):
    url: SingleLine = Field(min_length=1, max_length=2048, examples=["https://partner.example/hooks/passage"])
    event_types: list[WebhookEventType] = Field(min_length=1, max_length=len(WEBHOOK_EVENT_TYPES))
    description: SingleLine = Field(default="", max_length=500, examples=["Case system of Harbour Aid"])


class WebhookUpdate(_Strict):
    url: SingleLine | None = Field(default=None, min_length=1, max_length=2048)
    event_types: list[WebhookEventType] | None = Field(
        default=None, min_length=1, max_length=len(WEBHOOK_EVENT_TYPES)
    )
    description: SingleLine | None = Field(default=None, max_length=500)
    enabled: bool | None = Field(default=None, description="true re-enables an endpoint Passage disabled")


class WebhookPublic(BaseModel):
    id: uuid.UUID
    agency_id: str
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    consecutive_failures: int
    previous_secret_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookPublic):
    secret: str = Field(
        description="Standard Webhooks secret (`whsec_` + base64). Shown once: store it now.",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )


class SecretRotate(_Strict):
    overlap_seconds: int | None = Field(
        default=None, ge=0, le=7 * 24 * 3600, description="How long the old secret keeps signing too"
    )


class SecretRotated(BaseModel):
    id: uuid.UUID
    secret: str = Field(description="The new secret, shown once")
    previous_secret_expires_at: datetime | None


class DeliveryPublic(BaseModel):
    id: uuid.UUID
    agency_id: str
    channel: str
    endpoint_id: uuid.UUID | None
    recipient_id: uuid.UUID | None
    source_event_id: uuid.UUID
    source_event_type: str
    language: str
    state: str
    attempts: int
    max_attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    history: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None


class MarkRead(_Strict):
    ids: list[uuid.UUID] | None = Field(
        default=None, max_length=500, description="The notices to mark read; omit (or null) to mark all"
    )


class MarkedRead(BaseModel):
    marked: int


class InAppNotificationPublic(BaseModel):
    id: uuid.UUID
    kind: str = Field(examples=["referrals.referral.requested"])
    resource: str = Field(examples=["referral/5b0c7f3e-0d55-4b8e-9a57-2b7b9d0f6a10"])
    title: str
    language: str
    created_at: datetime
    read_at: datetime | None = Field(description="When the caller read it; null = unread")
