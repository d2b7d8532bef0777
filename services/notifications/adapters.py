"""The channels' wire: webhooks (Standard Webhooks), email (SMTP) and SMS (an HTTP provider).

Every adapter answers with an `Attempt`: whether it worked, whether trying again could help, and
how long the other side asked us to wait (429 Retry-After). None of them raises for a failed send.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage

import aiosmtplib
import httpx

from services.notifications.settings import NotificationSettings
from services.notifications.signing import signature_header


@dataclass(frozen=True)
class Attempt:
    ok: bool
    retryable: bool = False
    status_code: int | None = None
    retry_after: float | None = None
    error: str | None = None


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def classify(response: httpx.Response) -> Attempt:
    """2xx is done; 5xx and 429 are worth another try (429 after Retry-After); other 4xx are not."""
    code = response.status_code
    if 200 <= code < 300:
        return Attempt(ok=True, status_code=code)
    if code == 429:
        return Attempt(
            ok=False,
            retryable=True,
            status_code=code,
            retry_after=retry_after_seconds(response.headers.get("retry-after")),
            error="429 Too Many Requests",
        )
    return Attempt(ok=False, retryable=code >= 500, status_code=code, error=f"HTTP {code}")


def _transport_failure(exc: Exception) -> Attempt:
    kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection error"
    return Attempt(ok=False, retryable=True, error=f"{kind}: {type(exc).__name__}")


class OriginClients:
    """Keep-alive HTTP clients, one per receiving origin (scheme, host, port), each with a small pool.

    One pool for every partner would scan all its connections on each request (httpcore's pool is
    linear in its size per request, so a 32-connection pool is 3x slower than a 4-connection one on
    loopback); small per-origin pools also keep one slow partner from holding every connection, and
    `lane(url)` caps how many sends to one origin are under way at once.
    """

    def __init__(self, *, per_origin: int, timeout: float, max_origins: int = 512) -> None:
        self._per_origin = per_origin
        # No pool timeout: a send waits for its origin's lane, not for a connection; connect and
        # read time are bounded by `timeout`.
        self._timeout = httpx.Timeout(timeout, connect=min(5.0, timeout), pool=None)
        self._max_origins = max_origins
        self._clients: OrderedDict[str, httpx.AsyncClient] = OrderedDict()
        self._lanes: dict[str, asyncio.Semaphore] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._origins: dict[str, str] = {}  # url -> origin

    def origin(self, url: str) -> str:
        key = self._origins.get(url)
        if key is None:
            if len(self._origins) > 4 * self._max_origins:
                self._origins.clear()
            parts = httpx.URL(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            key = self._origins[url] = f"{parts.scheme}://{parts.host}:{port}"
        return key

    def lane(self, url: str) -> asyncio.Semaphore:
        key = self.origin(url)
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = asyncio.Semaphore(self._per_origin)
        return lane

    def client(self, url: str) -> httpx.AsyncClient:
        key = self.origin(url)
        client = self._clients.get(key)
        if client is not None:
            self._clients.move_to_end(key)
            return client
        limits = httpx.Limits(max_connections=self._per_origin, max_keepalive_connections=self._per_origin)
        client = self._clients[key] = httpx.AsyncClient(
            timeout=self._timeout, limits=limits, follow_redirects=False
        )
        if len(self._clients) > self._max_origins:  # the least recently used, after its sends end
            _, old = self._clients.popitem(last=False)
            task = asyncio.create_task(self._close_later(old))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        return client

    async def _close_later(self, client: httpx.AsyncClient) -> None:
        await asyncio.sleep(self._timeout.read or 10.0)
        await client.aclose()

    async def aclose(self) -> None:
        for task in list(self._closing):
            task.cancel()
        clients, self._clients = list(self._clients.values()), OrderedDict()
        for client in clients:
            with contextlib.suppress(Exception):
                await client.aclose()


class WebhookSender:
    def __init__(self, clients: OriginClients) -> None:
        self._clients = clients

    async def send(self, url: str, *, msg_id: str, body: str, secrets: list[str]) -> Attempt:
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(secrets, msg_id=msg_id, timestamp=timestamp, body=body),
            "user-agent": "Passage-Webhooks/1.0",
        }
        try:
            response = await self._clients.client(url).post(url, content=body.encode(), headers=headers)
        except httpx.HTTPError as exc:
            return _transport_failure(exc)
        return classify(response)


class SmtpSender:
    def __init__(self, settings: NotificationSettings) -> None:
        self._s = settings

    async def send(self, to: str, *, subject: str, text: str, html: str, language: str) -> Attempt:
        s = self._s
        if not s.smtp_host:
            return Attempt(ok=False, retryable=True, error="no SMTP server configured")
        message = EmailMessage()
        message["From"] = s.mail_from
        message["To"] = to
        message["Subject"] = subject
        message["Content-Language"] = language
        message["Message-ID"] = email.utils.make_msgid(domain="passage.invalid")
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        try:
            await aiosmtplib.send(
                message,
                hostname=s.smtp_host,
                port=s.smtp_port,
                start_tls=s.smtp_starttls and not s.smtp_use_tls,
                use_tls=s.smtp_use_tls,
                username=s.smtp_username,
                password=s.smtp_password.get_secret_value() if s.smtp_password else None,
                timeout=s.send_timeout_seconds,
            )
        except aiosmtplib.SMTPResponseException as exc:
            # 4xx SMTP replies are transient by definition; 5xx are permanent.
            return Attempt(
                ok=False, retryable=400 <= exc.code < 500, status_code=exc.code, error=f"SMTP {exc.code}"
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return Attempt(ok=False, retryable=True, error=f"SMTP: {type(exc).__name__}")
        return Attempt(ok=True, status_code=250)


class SmsSender:
    """A generic HTTP SMS provider: POST JSON {"to", "body", "sender"} with a bearer token."""

    def __init__(self, settings: NotificationSettings, http: httpx.AsyncClient) -> None:
        self._s = settings
        self._http = http

    async def send(self, to: str, *, text: str, msg_id: str) -> Attempt:
        s = self._s
        if not s.sms_url:
            return Attempt(ok=False, retryable=True, error="no SMS provider configured")
        headers = {"Idempotency-Key": msg_id}
        if s.sms_token:
            headers["Authorization"] = f"Bearer {s.sms_token.get_secret_value()}"
        try:
            response = await self._http.post(
                s.sms_url, json={"to": to, "body": text, "sender": s.sms_sender}, headers=headers
            )
        except httpx.HTTPError as exc:
            return _transport_failure(exc)
        return classify(response)
