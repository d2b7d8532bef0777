"""A component's own identity, for the calls it makes on its own account rather than a caller's.

A consumer that needs another service's data (scoring reading the directory, notifications looking
up where to send a reminder) has no caller whose token it could forward; neither has the gateway
when it reads a client across agencies before its policy decision. They present a token with the
role `service` instead:

- in production, obtained from the OIDC provider with the OAuth2 client-credentials grant
  (`PASSAGE_SERVICE_TOKEN_URL`, `PASSAGE_SERVICE_CLIENT_ID`, `PASSAGE_SERVICE_CLIENT_SECRET`);
- in dev, minted with the local signing key (`PASSAGE_JWT_PRIVATE_KEY_FILE`, refused outside dev).

Tokens are cached until shortly before they expire. `service_http(settings, "intake")` returns an
httpx client for another component that sends the token on every request and fetches a new one
once if the target answers 401.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator

import httpx
import jwt
import structlog

from passage.auth import Role
from passage.devkeys import mint_token
from passage.errors import ServiceUnavailable
from passage.settings import Settings

log = structlog.get_logger(__name__)

SERVICE_AGENCY = "passage"  # the `agency` claim of a service token: no agency's member
_REFRESH_MARGIN_SECONDS = 60.0
_DEV_TTL_SECONDS = 900


class ServiceIdentity:
    """Hands out a valid service token, fetching or minting a new one when the cached one is near expiry."""

    def __init__(self, settings: Settings, component: str) -> None:
        self._settings = settings
        self._component = component
        self._token = ""
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    @property
    def configured(self) -> bool:
        s = self._settings
        return bool(s.service_token_url or (s.is_dev and s.jwt_private_key_file))

    async def token(self, *, renew: bool = False) -> str:
        async with self._lock:
            if renew or not self._token or time.time() > self._expires_at - _REFRESH_MARGIN_SECONDS:
                self._token, self._expires_at = await self._obtain()
            return self._token

    async def _obtain(self) -> tuple[str, float]:
        s = self._settings
        if s.service_token_url:
            return await self._client_credentials(s.service_token_url)
        if s.is_dev and s.jwt_private_key_file:
            token = mint_token(
                s.jwt_private_key_file,
                agency=SERVICE_AGENCY,
                roles=[Role.SERVICE.value],
                sub=f"service:{self._component}",
                ttl_seconds=_DEV_TTL_SECONDS,
                issuer=s.jwt_issuer,
                audience=s.jwt_audience,
            )
            return token, time.time() + _DEV_TTL_SECONDS
        raise ServiceUnavailable(
            f"{self._component} has no service identity: set PASSAGE_SERVICE_TOKEN_URL, "
            "PASSAGE_SERVICE_CLIENT_ID and PASSAGE_SERVICE_CLIENT_SECRET"
        )

    async def _client_credentials(self, url: str) -> tuple[str, float]:
        s = self._settings
        secret = s.service_client_secret.get_secret_value() if s.service_client_secret else ""
        form = {
            "grant_type": "client_credentials",
            "client_id": s.service_client_id or f"passage-{self._component}",
            "client_secret": secret,
        }
        try:
            async with httpx.AsyncClient(timeout=s.http_timeout_seconds) as http:
                response = await http.post(url, data=form)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"the token endpoint did not answer: {exc.__class__.__name__}") from exc
        if response.status_code != 200:
            log.error("service_token_refused", status=response.status_code, component=self._component)
            raise ServiceUnavailable(
                f"the token endpoint refused our client credentials ({response.status_code})"
            )
        body = response.json()
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise ServiceUnavailable("the token endpoint answered without an access_token")
        expires_in = body.get("expires_in")
        if not isinstance(expires_in, (int, float)):
            exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
            expires_in = float(exp) - time.time() if isinstance(exp, (int, float)) else 300.0
        return token, time.time() + float(expires_in)


class ServiceAuth(httpx.Auth):
    """httpx auth flow: the service token on every request, renewed once on a 401."""

    def __init__(self, identity: ServiceIdentity) -> None:
        self._identity = identity

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = f"Bearer {await self._identity.token()}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {await self._identity.token(renew=True)}"
            yield request


def service_http(
    settings: Settings,
    target: str,
    *,
    caller: str,
    identity: ServiceIdentity | None = None,
    limits: httpx.Limits | None = None,
) -> httpx.AsyncClient:
    """An httpx client for component `target`, authenticated as component `caller`. Close it when done."""
    timeout = httpx.Timeout(settings.http_timeout_seconds, connect=min(2.0, settings.http_timeout_seconds))
    return httpx.AsyncClient(
        base_url=settings.service_url(target),
        timeout=timeout,
        auth=ServiceAuth(identity or ServiceIdentity(settings, caller)),
        headers={"User-Agent": f"passage-{caller}"},
        limits=limits or httpx.Limits(max_connections=100, max_keepalive_connections=20),
    )
