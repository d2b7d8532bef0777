"""Every setting comes from the environment, prefixed `PASSAGE_`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "passage-dev-secret-do-not-use-in-production"  # noqa: S105 - refused outside dev

Environment = Literal["dev", "production"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PASSAGE_", extra="ignore")

    # Production is the default so that a forgotten variable fails closed, not open.
    env: Environment = "production"
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/passage"
    database_pool_size: int = Field(default=10, ge=1, le=200)
    # A pooled connection idle longer than this is checked before use (see passage.db).
    database_ping_idle_seconds: float = Field(default=10.0, ge=0)
    nats_url: str = "nats://127.0.0.1:4222"

    # Tokens: a JWKS URL (the OIDC provider) in production; a local PEM public key in dev.
    jwt_issuer: str = "passage-dev"
    jwt_audience: str = "passage"
    jwt_jwks_url: str | None = None
    jwt_public_key_file: Path | None = None
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)
    # Dev only: the local private key, so that components can mint their own service tokens.
    jwt_private_key_file: Path | None = None

    # A component's own identity when it calls another component on its own account (a consumer
    # that needs the directory, the gateway reading across agencies): OAuth2 client credentials.
    service_token_url: str | None = None
    service_client_id: str | None = None
    service_client_secret: SecretStr | None = None

    # Where the other components answer (the gateway and service-to-service calls).
    intake_url: str = "http://127.0.0.1:8401"
    referrals_url: str = "http://127.0.0.1:8402"
    scoring_url: str = "http://127.0.0.1:8403"
    notifications_url: str = "http://127.0.0.1:8404"
    http_timeout_seconds: float = Field(default=5.0, gt=0, le=120)

    # Events. A namespace prefixes every stream and subject, so that several deployments can share
    # one NATS server (e.g. a developer's and the test suite's); empty in production, where NATS
    # accounts are the stronger wall.
    nats_namespace: str = Field(default="", pattern=r"^([a-z][a-z0-9_]{0,30})?$")
    stream_replicas: int = Field(default=1, ge=1, le=5)
    stream_duplicate_window_seconds: int = Field(default=120, ge=1)
    consumer_ack_wait_seconds: float = Field(default=30.0, gt=0)
    consumer_max_deliver: int = Field(default=10, ge=1)
    consumer_concurrency: int = Field(default=8, ge=1, le=64)
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    outbox_batch_size: int = Field(default=200, ge=1, le=5000)
    outbox_retention_days: int = Field(default=7, ge=1)
    timer_poll_seconds: float = Field(default=1.0, gt=0, le=60)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    graceful_shutdown_seconds: float = Field(default=10.0, ge=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True

    # Fault points for resilience tests (see passage.faults); refused in production.
    faults: str = ""

    @field_validator("database_url")
    @classmethod
    def _asyncpg_driver(cls, value: str) -> str:
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+asyncpg://" + value[len(prefix) :]
        return value

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.env == "dev":
            return self
        secret = self.secret_key.get_secret_value()
        if secret == DEV_SECRET_KEY:
            raise ValueError(
                "PASSAGE_SECRET_KEY is the development default; set a real secret "
                "(or PASSAGE_ENV=dev for local development)"
            )
        if len(secret) < 32:
            raise ValueError("PASSAGE_SECRET_KEY must be at least 32 characters outside dev")
        if self.faults:
            raise ValueError("PASSAGE_FAULTS is for resilience tests and is refused in production")
        if self.jwt_private_key_file:
            raise ValueError(
                "PASSAGE_JWT_PRIVATE_KEY_FILE lets a process mint any token and is refused outside dev; "
                "set PASSAGE_SERVICE_TOKEN_URL and the client credentials instead"
            )
        if not self.jwt_jwks_url and not self.jwt_public_key_file:
            raise ValueError("set PASSAGE_JWT_JWKS_URL to the OIDC provider's JWKS endpoint")
        return self

    @property
    def is_dev(self) -> bool:
        return self.env == "dev"

    def service_url(self, component: str) -> str:
        urls = {
            "intake": self.intake_url,
            "referrals": self.referrals_url,
            "scoring": self.scoring_url,
            "notifications": self.notifications_url,
        }
        return urls[component]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
