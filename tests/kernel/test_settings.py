"""Settings fail closed in production, come from PASSAGE_* variables, and the CLI reports them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from pydantic import ValidationError

from passage.devkeys import DEV_AUDIENCE, DEV_ISSUER, ensure_dev_keys
from passage.settings import DEV_SECRET_KEY, Settings

REAL_SECRET = "a-real-production-secret-0123456789abcdef"
JWKS_URL = "https://idp.example.org/.well-known/jwks.json"


@pytest.fixture(autouse=True)
def no_passage_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from an environment without PASSAGE_* variables (the suite may set some)."""
    for name in list(os.environ):
        if name.upper().startswith("PASSAGE_"):
            monkeypatch.delenv(name)


def clean_env(**passage: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PASSAGE_")}
    env.update(passage)
    return env


# --- production fails closed ---------------------------------------------------------------


def test_production_refuses_the_development_secret() -> None:
    with pytest.raises(ValidationError, match="PASSAGE_SECRET_KEY is the development default"):
        Settings(env="production", jwt_jwks_url=JWKS_URL)


@pytest.mark.parametrize("secret", ["", "short", "x" * 31], ids=["empty", "short", "31-chars"])
def test_production_refuses_an_empty_or_short_secret(secret: str) -> None:
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(env="production", secret_key=secret, jwt_jwks_url=JWKS_URL)


def test_production_is_the_default_environment_so_a_bare_start_is_refused() -> None:
    with pytest.raises(ValidationError, match="PASSAGE_SECRET_KEY"):
        Settings()


def test_dev_accepts_the_development_secret() -> None:
    settings = Settings(env="dev")
    assert settings.is_dev
    assert settings.secret_key.get_secret_value() == DEV_SECRET_KEY


def test_production_without_jwks_url_or_key_file_is_refused() -> None:
    with pytest.raises(ValidationError, match="PASSAGE_JWT_JWKS_URL"):
        Settings(env="production", secret_key=REAL_SECRET)


def test_production_with_a_real_secret_and_a_jwks_url_is_accepted() -> None:
    settings = Settings(env="production", secret_key=REAL_SECRET, jwt_jwks_url=JWKS_URL)
    assert not settings.is_dev
    assert settings.jwt_jwks_url == JWKS_URL


def test_production_with_a_public_key_file_is_accepted(tmp_path: Path) -> None:
    _, public_key = ensure_dev_keys(tmp_path)
    settings = Settings(env="production", secret_key=REAL_SECRET, jwt_public_key_file=public_key)
    assert settings.jwt_public_key_file == public_key


def test_faults_are_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="PASSAGE_FAULTS"):
        Settings(
            env="production", secret_key=REAL_SECRET, jwt_jwks_url=JWKS_URL, faults="relay.after_publish"
        )


def test_faults_are_allowed_in_dev() -> None:
    assert Settings(env="dev", faults="relay.after_publish").faults == "relay.after_publish"


def test_secret_is_not_shown_in_repr() -> None:
    settings = Settings(env="production", secret_key=REAL_SECRET, jwt_jwks_url=JWKS_URL)
    assert REAL_SECRET not in repr(settings)
    assert REAL_SECRET not in str(settings.model_dump())


def test_unknown_environment_name_is_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(env="staging")


# --- database URLs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db.internal:5432/passage", "postgresql+asyncpg://u:p@db.internal:5432/passage"),
        ("postgresql://u:p@db.internal:5432/passage", "postgresql+asyncpg://u:p@db.internal:5432/passage"),
        (
            "postgresql+asyncpg://u:p@db.internal:5432/passage",
            "postgresql+asyncpg://u:p@db.internal:5432/passage",
        ),
        # Only the scheme is rewritten, never a 'postgres://' that appears later in the URL.
        (
            "postgres://u:p@h/db?options=postgres://x",
            "postgresql+asyncpg://u:p@h/db?options=postgres://x",
        ),
    ],
)
def test_database_url_is_normalised_to_the_asyncpg_driver(given: str, expected: str) -> None:
    assert Settings(env="dev", database_url=given).database_url == expected


# --- from the environment ------------------------------------------------------------------


def test_values_come_from_passage_prefixed_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASSAGE_ENV", "production")
    monkeypatch.setenv("PASSAGE_SECRET_KEY", REAL_SECRET)
    monkeypatch.setenv("PASSAGE_JWT_JWKS_URL", JWKS_URL)
    monkeypatch.setenv("PASSAGE_JWT_ISSUER", "https://idp.example.org/")
    monkeypatch.setenv("PASSAGE_DATABASE_URL", "postgres://svc@db.internal/passage")
    monkeypatch.setenv("PASSAGE_PORT", "9123")
    monkeypatch.setenv("PASSAGE_LOG_JSON", "false")

    settings = Settings()

    assert settings.env == "production"
    assert settings.secret_key.get_secret_value() == REAL_SECRET
    assert settings.jwt_jwks_url == JWKS_URL
    assert settings.jwt_issuer == "https://idp.example.org/"
    assert settings.database_url == "postgresql+asyncpg://svc@db.internal/passage"
    assert settings.port == 9123
    assert settings.log_json is False


def test_unprefixed_environment_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASSAGE_ENV", "dev")
    monkeypatch.setenv("DATABASE_URL", "postgres://elsewhere/other")
    monkeypatch.setenv("PORT", "1234")
    settings = Settings()
    assert "elsewhere" not in settings.database_url
    assert settings.port == 8000


def test_production_from_the_environment_refuses_the_development_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PASSAGE_ENV", "production")
    monkeypatch.setenv("PASSAGE_JWT_JWKS_URL", JWKS_URL)
    with pytest.raises(ValidationError, match="PASSAGE_SECRET_KEY"):
        Settings()


def test_faults_from_the_environment_are_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASSAGE_ENV", "production")
    monkeypatch.setenv("PASSAGE_SECRET_KEY", REAL_SECRET)
    monkeypatch.setenv("PASSAGE_JWT_JWKS_URL", JWKS_URL)
    monkeypatch.setenv("PASSAGE_FAULTS", "relay.after_publish")
    with pytest.raises(ValidationError, match="PASSAGE_FAULTS"):
        Settings()


@pytest.mark.parametrize(
    ("variable", "value"), [("PASSAGE_PORT", "70000"), ("PASSAGE_DATABASE_POOL_SIZE", "0")]
)
def test_out_of_range_numbers_are_refused(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv("PASSAGE_ENV", "dev")
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError):
        Settings()


# --- the CLI -------------------------------------------------------------------------------


def passage(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "passage", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_serve_in_production_without_a_secret_exits_2_naming_the_secret(tmp_path: Path) -> None:
    started = time.monotonic()
    result = passage("serve", "intake", env=clean_env(PASSAGE_ENV="production"), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "PASSAGE_SECRET_KEY" in result.stderr or "secret_key" in result.stderr
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 30, "`passage serve` should refuse before starting anything"


def test_serve_in_production_without_an_issuer_exits_2_naming_the_jwks_url(tmp_path: Path) -> None:
    env = clean_env(PASSAGE_ENV="production", PASSAGE_SECRET_KEY=REAL_SECRET)
    result = passage("serve", "intake", env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "PASSAGE_JWT_JWKS_URL" in result.stderr


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    ensure_dev_keys(tmp_path / "data")
    return tmp_path / "data"


def test_token_prints_a_jwt_with_the_flags_as_claims(data_dir: Path, tmp_path: Path) -> None:
    before = int(time.time())
    result = passage(
        "token",
        "--data-dir", str(data_dir),
        "--agency", "harbour-aid",
        "--role", "case_worker",
        "--role", "supervisor",
        "--sub", "worker-42",
        "--ttl", "900",
        env=clean_env(),
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    printed = result.stdout.strip().splitlines()[-1]

    public_key = serialization.load_pem_public_key(
        (data_dir / "keys" / "dev-signing-key.pub.pem").read_bytes()
    )
    claims = jwt.decode(
        printed,
        public_key,  # type: ignore[arg-type]
        algorithms=["RS256"],
        audience=DEV_AUDIENCE,
        issuer=DEV_ISSUER,
    )
    assert claims["agency"] == "harbour-aid"
    assert claims["roles"] == ["case_worker", "supervisor"]
    assert claims["sub"] == "worker-42"
    assert claims["exp"] - claims["iat"] == 900
    assert before + 900 <= claims["exp"] <= int(time.time()) + 900


def test_token_refuses_an_unknown_role(data_dir: Path, tmp_path: Path) -> None:
    result = passage(
        "token", "--data-dir", str(data_dir), "--agency", "harbour-aid", "--role", "superuser",
        env=clean_env(), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert "superuser" in result.stderr
    assert "case_worker" in result.stderr  # the known roles are listed
    assert result.stdout.strip() == ""


def test_token_without_a_dev_key_says_how_to_make_one(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    result = passage(
        "token", "--data-dir", str(empty), "--agency", "a", "--role", "case_worker",
        env=clean_env(), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert "passage dev" in result.stderr
    assert result.stdout.strip() == ""
