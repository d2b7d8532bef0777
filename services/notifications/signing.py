"""Standard Webhooks: secrets, signatures, and which URLs may receive them.

- A secret is `whsec_` + base64 of 32 random bytes; the HMAC key is the decoded bytes.
- `webhook-signature` is a space-separated list of `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`,
  one per secret in force: two during the overlap after a rotation.
- Secrets are kept encrypted at rest (Fernet, key derived from PASSAGE_SECRET_KEY): a copy of the
  database alone cannot forge a partner's webhooks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key_bytes(secret: str) -> bytes:
    raw = secret.removeprefix(SECRET_PREFIX)
    return base64.b64decode(raw)


def sign(secret: str, *, msg_id: str, timestamp: int, body: str) -> str:
    """One `v1,<base64>` signature of `msg_id.timestamp.body` with `secret`."""
    content = f"{msg_id}.{timestamp}.{body}".encode()
    digest = hmac.new(secret_key_bytes(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets_in_force: list[str], *, msg_id: str, timestamp: int, body: str) -> str:
    return " ".join(sign(s, msg_id=msg_id, timestamp=timestamp, body=body) for s in secrets_in_force)


class SecretBox:
    """Encrypts webhook secrets at rest with a key derived from the deployment's secret key."""

    def __init__(self, secret_key: str) -> None:
        derived = hashlib.sha256(b"passage-notifications-webhook-secrets\0" + secret_key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise ValueError("the webhook secret cannot be decrypted with this PASSAGE_SECRET_KEY") from None


def is_loopback_host(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _is_internal_address(host: str) -> bool:
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast


def url_problem(url: str, *, dev: bool) -> str | None:
    """Why `url` may not receive webhooks, or None when it may.

    In dev (and tests) only loopback receivers are allowed, over http or https, so that nothing
    Passage sends while developing or fuzzing leaves the machine. Elsewhere only https, and never
    to an internal address written in the URL (the webhook must not be a way into our network).
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        _ = parts.port  # raises on a port that is not a number or out of range
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https") or not host:
        return "must be an absolute http(s) URL with a host"
    if parts.username or parts.password:
        return "must not carry credentials; the signature authenticates Passage"
    if parts.fragment:
        return "must not have a fragment"
    if dev:
        if not is_loopback_host(host):
            return "must point to a loopback host (localhost, 127.0.0.1, ::1) in development"
        return None
    if parts.scheme != "https":
        return "must use https"
    if is_loopback_host(host) or _is_internal_address(host):
        return "must not point to an internal or loopback address"
    return None
