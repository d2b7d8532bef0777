"""Bearer JWT verification: RS256/ES256 only, against a JWKS URL (production) or a local key (dev).

`alg: none`, HMAC algorithms and key-type confusion are refused before any signature check.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import jwt
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from passage.errors import Forbidden, ServiceUnavailable, Unauthenticated
from passage.settings import Settings

log = structlog.get_logger(__name__)

ACCEPTED_ALGORITHMS = ("RS256", "ES256")
_CACHE_SECONDS = 60.0
_CACHE_SIZE = 10_000
_KEY_TYPES: dict[str, type] = {"RS256": rsa.RSAPublicKey, "ES256": ec.EllipticCurvePublicKey}


class Role(StrEnum):
    CASE_WORKER = "case_worker"
    SUPERVISOR = "supervisor"
    AGENCY_ADMIN = "agency_admin"
    DATA_PROTECTION_OFFICER = "data_protection_officer"
    COORDINATOR = "coordinator"
    PARTNER_SYSTEM = "partner_system"
    # A Passage component calling another on its own account (see passage.service_auth). Only the
    # OIDC provider's service clients may carry it; services let it read across agencies.
    SERVICE = "service"


KNOWN_ROLES = frozenset(r.value for r in Role)


@dataclass(frozen=True, slots=True)
class AuthSubject:
    """Who is calling: a person or a partner system acting for one agency."""

    sub: str
    agency: str
    roles: frozenset[str]
    scopes: frozenset[str] = frozenset()
    token: str = field(default="", repr=False)

    def has_any_role(self, roles: Iterable[str]) -> bool:
        return not self.roles.isdisjoint(roles)


PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


class TokenVerifier:
    """Verifies bearer tokens. One instance per process; keys are cached."""

    def __init__(self, settings: Settings) -> None:
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._leeway = settings.jwt_leeway_seconds
        self._static_key: PublicKey | None = None
        self._jwks: jwt.PyJWKClient | None = None
        self._keys: dict[str, PublicKey] = {}
        self._last_refresh = 0.0
        self._verified: dict[str, tuple[AuthSubject, float]] = {}
        if settings.jwt_jwks_url:
            # We keep the keys ourselves and refresh on an unknown kid, so that a rotated key is
            # picked up at once; pyjwt's own set cache would hide it for minutes.
            self._jwks = jwt.PyJWKClient(
                settings.jwt_jwks_url, cache_keys=False, cache_jwk_set=False, timeout=5
            )
        elif settings.jwt_public_key_file:
            self._static_key = load_public_key(settings.jwt_public_key_file)

    async def verify(self, token: str) -> AuthSubject:
        """The token's subject, or Unauthenticated. A token verified in the last minute is answered
        from a small cache (a signature check is a sizeable part of a request's CPU); never past its
        `exp`, and never longer than `_CACHE_SECONDS`, so a key withdrawn from the JWKS stops
        working within a minute."""
        now = time.time()
        cached = self._verified.get(token)
        if cached is not None and now < cached[1]:
            return cached[0]
        subject, expires = await self._verify_uncached(token)
        if len(self._verified) >= _CACHE_SIZE:
            self._verified.clear()  # bounded; a burst of distinct tokens just starts afresh
        self._verified[token] = (subject, min(expires, now + _CACHE_SECONDS))
        return subject

    async def _verify_uncached(self, token: str) -> tuple[AuthSubject, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("The bearer token is not a well-formed JWT") from None
        alg = header.get("alg")
        if alg not in ACCEPTED_ALGORITHMS:
            raise Unauthenticated(f"Token algorithm {alg!r} is not accepted; tokens must be RS256 or ES256")
        key = await self._key_for(header)
        if not isinstance(key, _KEY_TYPES[alg]):
            raise Unauthenticated(f"Token algorithm {alg} does not match the issuer's key type")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("The token has expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("The token is not valid yet (nbf)") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("The token was issued by an issuer Passage does not trust") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated(f"The token's audience is not {self._audience!r}") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"The token lacks the {exc.claim!r} claim") from None
        except jwt.PyJWTError:
            raise Unauthenticated("The token's signature is not valid") from None
        return subject_from_claims(claims, token), float(claims["exp"])

    async def _key_for(self, header: Mapping[str, Any]) -> PublicKey:
        if self._static_key is not None:
            return self._static_key
        if self._jwks is None:
            raise ServiceUnavailable("No token issuer is configured (PASSAGE_JWT_JWKS_URL)")
        kid = str(header.get("kid", ""))
        if kid not in self._keys:
            await self._refresh_keys()
        try:
            return self._keys[kid]
        except KeyError:
            raise Unauthenticated("The token was signed by a key the issuer does not publish") from None

    async def _refresh_keys(self) -> None:
        # An unknown kid triggers a refresh, at most every few seconds, so junk kids cannot
        # turn the gateway into a load generator against the identity provider.
        if time.monotonic() - self._last_refresh < 5 and self._keys:
            return
        assert self._jwks is not None
        try:
            keys = await asyncio.to_thread(self._jwks.get_signing_keys)
        except (jwt.PyJWTError, ValueError) as exc:  # unreachable, not JSON, or no usable key
            log.warning("jwks_refresh_failed", error=str(exc))
            raise ServiceUnavailable("The token issuer's keys cannot be fetched right now") from None
        self._keys = {k.key_id or "": k.key for k in keys if isinstance(k.key, PublicKey)}
        self._last_refresh = time.monotonic()


def subject_from_claims(claims: Mapping[str, Any], token: str = "") -> AuthSubject:
    agency = claims.get("agency")
    if not isinstance(agency, str) or not agency:
        raise Unauthenticated("The token lacks the 'agency' claim")
    raw_roles = claims.get("roles", [])
    if isinstance(raw_roles, str):
        raw_roles = raw_roles.split()
    if not isinstance(raw_roles, list) or not all(isinstance(r, str) for r in raw_roles):
        raise Unauthenticated("The token's 'roles' claim must be a list of strings")
    roles = frozenset(r for r in raw_roles if r in KNOWN_ROLES)
    if not roles:
        raise Unauthenticated(f"The token carries none of Passage's roles: {', '.join(sorted(KNOWN_ROLES))}")
    scope = claims.get("scope", "")
    scopes = frozenset(scope.split()) if isinstance(scope, str) else frozenset()
    return AuthSubject(sub=str(claims["sub"]), agency=agency, roles=roles, scopes=scopes, token=token)


def load_public_key(path: Path) -> PublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, PublicKey):
        raise ValueError(f"{path} holds neither an RSA nor an EC public key")
    return key


_bearer = HTTPBearer(auto_error=False, description="An OIDC access token (JWT, RS256 or ES256)")


async def current_subject(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> AuthSubject:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthenticated("Send an 'Authorization: Bearer <token>' header")
    verifier: TokenVerifier = request.app.state.token_verifier
    subject = await verifier.verify(credentials.credentials)
    structlog.contextvars.bind_contextvars(agency=subject.agency, sub=subject.sub)
    return subject


CurrentSubject = Annotated[AuthSubject, Depends(current_subject)]


def require_roles(*roles: Role) -> Callable[[AuthSubject], Awaitable[AuthSubject]]:
    """A dependency that admits only callers holding one of `roles`."""
    allowed = frozenset(r.value for r in roles)

    async def dependency(subject: CurrentSubject) -> AuthSubject:
        if not subject.has_any_role(allowed):
            raise Forbidden(f"This action needs one of the roles: {', '.join(sorted(allowed))}")
        return subject

    return dependency
