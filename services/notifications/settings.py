"""Notifications' own settings, from the environment with the prefix `PASSAGE_NOTIFICATIONS_`.

The kernel's `passage.settings.Settings` holds what every component shares; what only this service
needs (mail server, SMS provider, retry policy) lives here so the kernel stays small.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class NotificationSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PASSAGE_NOTIFICATIONS_", extra="ignore")

    # The public GraphQL gateway: the only place a partner fetches the details a message points to.
    # PASSAGE_GATEWAY_PUBLIC_URL (shared with the gateway) wins over PASSAGE_NOTIFICATIONS_GATEWAY_URL.
    gateway_url: str = Field(
        default="http://127.0.0.1:8400",
        validation_alias=AliasChoices("PASSAGE_GATEWAY_PUBLIC_URL", "PASSAGE_NOTIFICATIONS_GATEWAY_URL"),
    )

    # Retries: attempt n (1-based) that fails waits min(cap, base * 2**(n-1)), with equal jitter
    # (half fixed, half random), before attempt n+1; after `max_attempts` the delivery is dead-lettered.
    retry_base_seconds: float = Field(default=5.0, gt=0, le=3600)
    retry_cap_seconds: float = Field(default=6 * 3600.0, gt=0, le=7 * 24 * 3600)
    max_attempts: int = Field(default=12, ge=1, le=50)
    retry_after_cap_seconds: float = Field(default=24 * 3600.0, gt=0)
    # Consecutive failed attempts after which a webhook endpoint is disabled and its admins told.
    endpoint_failure_threshold: int = Field(default=40, ge=1, le=10_000)
    # Seconds a webhook, SMTP or SMS call may take before it counts as a timeout.
    send_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # The delivery worker: how often it looks for due deliveries when nothing woke it, how many it
    # claims at once, and how long a claim holds before another worker may take the row over.
    poll_seconds: float = Field(default=1.0, gt=0, le=60)
    batch_size: int = Field(default=100, ge=1, le=2000)
    concurrency: int = Field(default=32, ge=1, le=512)
    # Sends (and keep-alive connections) under way at once to one receiving origin.
    per_origin_concurrency: int = Field(default=8, ge=1, le=64)
    # How many outcomes at most are recorded in one transaction (those waiting when it starts).
    record_batch_size: int = Field(default=500, ge=1, le=5000)
    lease_seconds: float = Field(default=120.0, gt=0)
    # How long the previous webhook secret keeps signing after a rotation, unless the call says.
    rotation_overlap_seconds: int = Field(default=24 * 3600, ge=0, le=7 * 24 * 3600)

    # Reminders: how many days before an expiry people hear about it.
    document_expiry_days_before: int = Field(default=30, ge=0, le=365)
    consent_expiry_days_before: int = Field(default=14, ge=0, le=365)
    # An SMS to the client for a follow-up due, when the client prefers SMS and has a phone.
    client_sms_reminders: bool = True

    # Email (SMTP, through aiosmtplib). Unset host: email deliveries wait with an error, never vanish.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_starttls: bool = True
    smtp_use_tls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    mail_from: str = "Passage <no-reply@passage.invalid>"

    # SMS through an HTTP provider: POST {sms_url} with JSON {"to", "body", "sender"} and the token.
    sms_url: str | None = None
    sms_token: SecretStr | None = None
    sms_sender: str = "Passage"
