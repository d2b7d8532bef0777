"""HTTP clients of the services, shared per process, calling on behalf of the caller."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from fastapi import FastAPI

from gateway.purpose import PURPOSE_HEADER, PurposeOfUse
from passage.auth import AuthSubject
from passage.settings import Settings

log = structlog.get_logger(__name__)


class UpstreamError(Exception):
    """A service could not answer (down, timed out, or failed)."""


@dataclass(frozen=True)
class Caller:
    subject: AuthSubject
    purpose: PurposeOfUse
    request_id: str

    def headers(self) -> dict[str, str]:
        # Services verify the same token again: the gateway is not trusted blindly.
        return {
            "Authorization": f"Bearer {self.subject.token}",
            PURPOSE_HEADER: self.purpose.value,
            "X-Request-ID": self.request_id,
        }


class IntakeClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def get_client(self, caller: Caller, client_id: uuid.UUID) -> dict[str, Any] | None:
        try:
            response = await self._http.get(f"/v1/clients/{client_id}", headers=caller.headers())
        except httpx.HTTPError as exc:
            log.warning("intake_unreachable", error=str(exc))
            raise UpstreamError("The intake service is not reachable") from exc
        if response.status_code == 404:
            return None
        if response.status_code >= 500 or response.status_code in (401, 403):
            log.warning("intake_refused", status=response.status_code)
            raise UpstreamError(f"The intake service answered {response.status_code}")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body


@dataclass(frozen=True)
class ServiceClients:
    intake: IntakeClient


@contextlib.asynccontextmanager
async def service_clients(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    timeout = httpx.Timeout(settings.http_timeout_seconds, connect=min(2.0, settings.http_timeout_seconds))
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=settings.intake_url, timeout=timeout, limits=limits) as intake:
        app.state.services = ServiceClients(intake=IntakeClient(intake))
        yield
