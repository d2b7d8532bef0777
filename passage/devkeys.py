"""The local signing key of a dev data folder, and the tokens `passage token` mints with it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

PRIVATE_KEY_NAME = "dev-signing-key.pem"
PUBLIC_KEY_NAME = "dev-signing-key.pub.pem"
DEV_ISSUER = "passage-dev"
DEV_AUDIENCE = "passage"
DEV_KEY_ID = "passage-dev-1"


def key_paths(data_dir: Path) -> tuple[Path, Path]:
    keys = data_dir / "keys"
    return keys / PRIVATE_KEY_NAME, keys / PUBLIC_KEY_NAME


def ensure_dev_keys(data_dir: Path) -> tuple[Path, Path]:
    """Create the folder's RSA key pair once; later runs reuse it so old tokens stay valid."""
    private_path, public_path = key_paths(data_dir)
    if private_path.exists() and public_path.exists():
        return private_path, public_path
    private_path.parent.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    private_path.chmod(0o600)
    public_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private_path, public_path


def mint_token(
    private_key_path: Path,
    *,
    agency: str,
    roles: Iterable[str],
    sub: str | None = None,
    ttl_seconds: int = 3600,
    issuer: str = DEV_ISSUER,
    audience: str = DEV_AUDIENCE,
) -> str:
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": sub or f"dev-user-{uuid.uuid4().hex[:8]}",
        "agency": agency,
        "roles": list(roles),
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
        "jti": uuid.uuid4().hex,
    }
    key = serialization.load_pem_private_key(private_key_path.read_bytes(), password=None)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": DEV_KEY_ID})  # type: ignore[arg-type]
