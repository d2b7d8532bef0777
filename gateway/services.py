"""HTTP clients of the services: one pair per service and process.

- `as_service`: the gateway's own identity (role `service`), for reads made BEFORE the policy
  decision (a client of another agency, its consents, the agreements) and for aggregates.
- `as_caller`: forwards the caller's token, for the caller's own lists and every write; the service
  verifies it again, the gateway is not trusted blindly.

Every call made for a request is counted on that request (the bench reports it).
"""

from __future__ import annotations

import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog
from fastapi import FastAPI

from gateway.purpose import PURPOSE_HEADER, PurposeOfUse
from passage.auth import AuthSubject
from passage.service_auth import ServiceIdentity, service_http
from passage.settings import Settings

log = structlog.get_logger(__name__)

TARGETS = ("intake", "referrals", "scoring", "notifications")


class UpstreamError(Exception):
    """A service refused or could not answer; `code` is the GraphQL extension code to report."""

    def __init__(
        self,
        message: str,
        code: str,
        status: int | None = None,
        errors: Any = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.errors = errors
        self.reason = reason


_CODES = {
    400: "BAD_USER_INPUT",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    409: "CONFLICT",
    412: "CONFLICT",
    422: "BAD_USER_INPUT",
    428: "BAD_USER_INPUT",
    429: "RATE_LIMITED",
}


@dataclass(frozen=True)
class Caller:
    subject: AuthSubject
    purpose: PurposeOfUse
    request_id: str

    def headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.subject.token}",
            PURPOSE_HEADER: self.purpose.value,
            "X-Request-ID": self.request_id,
        }


# httpx looks at every pooled connection of a client on every request it sends (is it still
# usable?), so one big pool costs more per request the more connections it holds (~15% of the
# gateway's CPU at 16 requests in flight). Several smaller pools, used in turn, cost a fraction.
POOLS_PER_SERVICE = 4


class Pools:
    """Clients of one service (same identity, same settings), used in turn."""

    def __init__(self, clients: Sequence[httpx.AsyncClient]) -> None:
        self._clients = list(clients)
        self._turn = itertools.cycle(self._clients)

    def next(self) -> httpx.AsyncClient:
        return next(self._turn)


@dataclass
class ServiceClients:
    as_service: Mapping[str, httpx.AsyncClient]
    as_caller: Mapping[str, httpx.AsyncClient]
    # The pools requests go through (the first of each is the client above, for streams and the like).
    service_pools: Mapping[str, Pools]
    caller_pools: Mapping[str, Pools]

    def for_service(self, target: str) -> httpx.AsyncClient:
        return self.service_pools[target].next()

    def for_caller(self, target: str) -> httpx.AsyncClient:
        return self.caller_pools[target].next()


@dataclass
class Upstream:
    """The services as one request sees them: counts its calls, maps refusals to GraphQL codes."""

    clients: ServiceClients
    caller: Caller | None
    calls: dict[str, int] = field(default_factory=dict)

    async def service(self, target: str, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"X-Request-ID": self.caller.request_id} if self.caller else {}
        return await self._send(self.clients.for_service(target), target, method, path, headers, **kwargs)

    async def on_behalf(self, target: str, method: str, path: str, **kwargs: Any) -> Any:
        assert self.caller is not None
        extra = kwargs.pop("headers", {})
        headers = {**self.caller.headers(), **extra}
        return await self._send(self.clients.for_caller(target), target, method, path, headers, **kwargs)

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    async def _send(
        self,
        http: httpx.AsyncClient,
        target: str,
        method: str,
        path: str,
        headers: dict[str, str],
        **kwargs: Any,
    ) -> Any:
        self.calls[target] = self.calls.get(target, 0) + 1
        try:
            response = await http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            log.warning("upstream_unreachable", target=target, error=type(exc).__name__)
            raise UpstreamError(f"The {target} service is not reachable", "SERVICE_UNAVAILABLE") from exc
        if response.status_code < 300:
            return response.json() if response.content else None
        body: dict[str, Any] = {}
        with contextlib.suppress(ValueError):
            parsed = response.json()
            body = parsed if isinstance(parsed, dict) else {}
        code = _CODES.get(response.status_code, "SERVICE_UNAVAILABLE")
        if code == "SERVICE_UNAVAILABLE":
            log.warning("upstream_failed", target=target, status=response.status_code, path=path)
            raise UpstreamError(
                f"The {target} service answered {response.status_code}", code, response.status_code
            )
        detail = str(body.get("detail") or body.get("title") or f"{target} answered {response.status_code}")
        reason = body.get("reason")
        raise UpstreamError(
            detail,
            code,
            response.status_code,
            body.get("errors"),
            reason=str(reason) if isinstance(reason, str) else None,
        )


def clients_query(ids: list[uuid.UUID]) -> dict[str, str]:
    return {"ids": ",".join(str(i) for i in ids)}


@contextlib.asynccontextmanager
async def open_service_clients(settings: Settings) -> AsyncIterator[ServiceClients]:
    timeout = httpx.Timeout(settings.http_timeout_seconds, connect=min(2.0, settings.http_timeout_seconds))
    per_pool = max(1, 200 // POOLS_PER_SERVICE)
    limits = httpx.Limits(max_connections=per_pool, max_keepalive_connections=per_pool // 2)
    identity = ServiceIdentity(settings, "gateway")
    async with contextlib.AsyncExitStack() as stack:
        service: dict[str, list[httpx.AsyncClient]] = {}
        caller: dict[str, list[httpx.AsyncClient]] = {}
        for target in TARGETS:
            for _ in range(POOLS_PER_SERVICE):
                svc = service_http(settings, target, caller="gateway", identity=identity, limits=limits)
                service.setdefault(target, []).append(await stack.enter_async_context(svc))
                caller.setdefault(target, []).append(
                    await stack.enter_async_context(
                        httpx.AsyncClient(
                            base_url=settings.service_url(target), timeout=timeout, limits=limits
                        )
                    )
                )
        yield ServiceClients(
            as_service={t: c[0] for t, c in service.items()},
            as_caller={t: c[0] for t, c in caller.items()},
            service_pools={t: Pools(c) for t, c in service.items()},
            caller_pools={t: Pools(c) for t, c in caller.items()},
        )


def install(app: FastAPI, clients: ServiceClients) -> None:
    app.state.services = clients
