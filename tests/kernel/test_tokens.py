"""Bearer JWT verification: the whole path (FastAPI dependency -> TokenVerifier) through the real
intake app with the dev key, and the JWKS mode against a small JWKS server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import http.server
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from passage.auth import TokenVerifier
from passage.devkeys import DEV_AUDIENCE, DEV_ISSUER, DEV_KEY_ID
from passage.errors import PROBLEM_JSON, ServiceUnavailable, Unauthenticated
from passage.settings import Settings
from tests.conftest import TokenFactory, bearer
from tests.support import running

CLIENT = {"given_name": "Leila", "family_name": "Karimi", "birth_year": 1990, "sex": "female"}

_DROP = object()  # a claim override that removes the claim


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def claims(**overrides: Any) -> dict[str, Any]:
    """Claims the dev verifier accepts, changed by `overrides` (`_DROP` removes a claim)."""
    now = int(time.time())
    body: dict[str, Any] = {
        "iss": DEV_ISSUER,
        "aud": DEV_AUDIENCE,
        "sub": "partner-dev-1",
        "agency": "agency-tokens",
        "roles": ["case_worker"],
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not _DROP}


@dataclass(frozen=True)
class DevKeys:
    private: rsa.RSAPrivateKey
    public_pem: bytes

    def sign(self, payload: dict[str, Any], *, kid: str = DEV_KEY_ID) -> str:
        return jwt.encode(payload, self.private, algorithm="RS256", headers={"kid": kid})


@pytest.fixture(scope="module")
def keys(dev_keys: tuple[Path, Path]) -> DevKeys:
    private = serialization.load_pem_private_key(dev_keys[0].read_bytes(), password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    return DevKeys(private=private, public_pem=dev_keys[1].read_bytes())


@pytest.fixture(scope="module")
async def intake(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running("intake", settings) as (_, client):
        yield client


def some_client_path() -> str:
    return f"/v1/clients/{uuid.uuid4()}"


def assert_unauthenticated(response: httpx.Response, explains: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["www-authenticate"].startswith("Bearer")
    problem = response.json()
    assert problem["status"] == 401
    assert problem["type"] == "urn:passage:problem:unauthenticated"
    assert explains.lower() in problem["detail"].lower(), problem["detail"]


# --- tokens built by hand ------------------------------------------------------------------


def forged(k: DevKeys) -> dict[str, str]:
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return bearer(jwt.encode(claims(), impostor, algorithm="RS256", headers={"kid": DEV_KEY_ID}))


def alg_none(_: DevKeys) -> dict[str, str]:
    token = f"{b64url_json({'alg': 'none', 'typ': 'JWT'})}.{b64url_json(claims())}."
    return bearer(token)


def hs256_with_public_key_as_secret(k: DevKeys) -> dict[str, str]:
    # The classic key-confusion attack: the verifier's own public key, used as an HMAC secret.
    signing_input = f"{b64url_json({'alg': 'HS256', 'typ': 'JWT'})}.{b64url_json(claims())}"
    signature = hmac.new(k.public_pem, signing_input.encode("ascii"), hashlib.sha256).digest()
    return bearer(f"{signing_input}.{b64url(signature)}")


def signed(**overrides: Any) -> Callable[[DevKeys], dict[str, str]]:
    def make(k: DevKeys) -> dict[str, str]:
        return bearer(k.sign(claims(**overrides)))

    return make


def raw_header(value: str) -> Callable[[DevKeys], dict[str, str]]:
    return lambda _: {"Authorization": value}


REFUSED = [
    pytest.param(forged, "signature is not valid", id="forged-with-another-rsa-key"),
    pytest.param(signed(exp=int(time.time()) - 3600), "expired", id="expired-beyond-leeway"),
    pytest.param(alg_none, "'none' is not accepted", id="alg-none"),
    pytest.param(hs256_with_public_key_as_secret, "'HS256' is not accepted", id="hs256-public-key-confusion"),
    pytest.param(signed(iss="https://evil.example/"), "issuer passage does not trust", id="unknown-issuer"),
    pytest.param(signed(aud="some-other-api"), "audience is not 'passage'", id="wrong-audience"),
    pytest.param(signed(agency=_DROP), "lacks the 'agency' claim", id="missing-agency"),
    pytest.param(signed(agency=""), "lacks the 'agency' claim", id="empty-agency"),
    pytest.param(signed(roles=["admin", "superuser"]), "none of passage's roles", id="no-passage-role"),
    pytest.param(signed(roles=_DROP), "none of passage's roles", id="no-roles-claim"),
    pytest.param(signed(roles={"case_worker": True}), "'roles' claim must be a list", id="roles-not-a-list"),
    pytest.param(signed(nbf=int(time.time()) + 3600), "not valid yet", id="nbf-in-the-future"),
    pytest.param(signed(sub=_DROP), "lacks the 'sub' claim", id="missing-sub"),
    pytest.param(signed(exp=_DROP), "lacks the 'exp' claim", id="missing-exp"),
    pytest.param(raw_header("Bearer not.a.jwt"), "not a well-formed jwt", id="malformed"),
    pytest.param(raw_header("Bearer abc"), "not a well-formed jwt", id="malformed-one-segment"),
    pytest.param(lambda _: {}, "authorization: bearer <token>", id="no-authorization-header"),
    pytest.param(raw_header("Basic dXNlcjpwYXNz"), "authorization: bearer <token>", id="basic-scheme"),
    pytest.param(
        lambda k: {"Authorization": f"Token {k.sign(claims())}"},
        "authorization: bearer <token>",
        id="valid-jwt-under-another-scheme",
    ),
    pytest.param(raw_header("Bearer"), "authorization: bearer <token>", id="bearer-without-token"),
]


@pytest.mark.parametrize(("make_headers", "explains"), REFUSED)
async def test_refused_token_gets_401_problem_that_says_why(
    intake: httpx.AsyncClient,
    keys: DevKeys,
    make_headers: Callable[[DevKeys], dict[str, str]],
    explains: str,
) -> None:
    response = await intake.get(some_client_path(), headers=make_headers(keys))
    assert_unauthenticated(response, explains)


async def test_refused_token_cannot_register_a_client(intake: httpx.AsyncClient, keys: DevKeys) -> None:
    response = await intake.post("/v1/clients", json=CLIENT, headers=forged(keys))
    assert_unauthenticated(response, "signature is not valid")


async def test_expiry_within_the_leeway_is_tolerated(intake: httpx.AsyncClient, keys: DevKeys) -> None:
    # The dev settings allow 30 s of clock skew.
    response = await intake.get(some_client_path(), headers=signed(exp=int(time.time()) - 5)(keys))
    assert response.status_code == 404, response.text


async def test_valid_dev_token_is_accepted(intake: httpx.AsyncClient, token: TokenFactory) -> None:
    tok = token("agency-valid", sub="worker-valid")
    created = await intake.post("/v1/clients", json=CLIENT, headers=bearer(tok))
    assert created.status_code == 201, created.text
    assert created.json()["agency_id"] == "agency-valid"

    read = await intake.get(f"/v1/clients/{created.json()['id']}", headers=bearer(tok))
    assert read.status_code == 200, read.text

    unknown = await intake.get(some_client_path(), headers=bearer(tok))
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == PROBLEM_JSON


async def test_bearer_scheme_is_case_insensitive(intake: httpx.AsyncClient, token: TokenFactory) -> None:
    response = await intake.get(some_client_path(), headers={"Authorization": f"bearer {token()}"})
    assert response.status_code == 404, response.text


async def test_roles_given_as_a_space_separated_string_are_accepted(
    intake: httpx.AsyncClient, keys: DevKeys
) -> None:
    headers = signed(roles="unrelated-role case_worker")(keys)
    created = await intake.post("/v1/clients", json=CLIENT, headers=headers)
    assert created.status_code == 201, created.text


async def test_known_role_without_the_permission_gets_403(
    intake: httpx.AsyncClient, token: TokenFactory
) -> None:
    response = await intake.post("/v1/clients", json=CLIENT, headers=bearer(token(roles=("coordinator",))))
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert "case_worker" in response.json()["detail"]


async def test_case_worker_of_another_agency_gets_404_not_403(
    intake: httpx.AsyncClient, token: TokenFactory
) -> None:
    created = await intake.post("/v1/clients", json=CLIENT, headers=bearer(token("agency-north")))
    assert created.status_code == 201, created.text
    client_id = created.json()["id"]

    other = await intake.get(f"/v1/clients/{client_id}", headers=bearer(token("agency-south")))
    assert other.status_code == 404, other.text
    assert other.headers["content-type"] == PROBLEM_JSON
    # The answer is the same as for an id that does not exist at all: nothing leaks.
    assert other.json()["type"] == "urn:passage:problem:not-found"


async def test_roles_list_with_a_non_string_member_is_refused_not_a_500(
    settings: Settings, keys: DevKeys
) -> None:
    headers = signed(roles=[{"name": "case_worker"}, "case_worker"])(keys)
    async with running("intake", settings) as (app, _):
        # This transport returns the 500 response instead of raising the app's exception.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            response = await client.get(some_client_path(), headers=headers)
    assert_unauthenticated(response, "roles")


# --- JWKS mode -----------------------------------------------------------------------------

ISSUER = "https://idp.passage.test/"
AUDIENCE = "passage-api"


class _JwksHandler(http.server.BaseHTTPRequestHandler):
    server: JwksServer

    def do_GET(self) -> None:
        self.server.requests += 1
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()
        self.wfile.write(self.server.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class JwksServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _JwksHandler)  # the port is chosen at run time
        self.status = 200
        self.body = b"{}"
        self.requests = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/.well-known/jwks.json"

    def publish(self, *jwks: dict[str, Any]) -> None:
        self.status, self.body = 200, json.dumps({"keys": list(jwks)}).encode()


@contextlib.contextmanager
def serving_jwks() -> Iterator[JwksServer]:
    server = JwksServer()
    thread = threading.Thread(target=server.serve_forever, name="jwks-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass(frozen=True)
class Issuer:
    rsa_key: rsa.RSAPrivateKey
    ec_key: ec.EllipticCurvePrivateKey

    def rsa_jwk(self, kid: str = "k1") -> dict[str, Any]:
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(self.rsa_key.public_key(), as_dict=True)
        return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}

    def ec_jwk(self, kid: str = "k2") -> dict[str, Any]:
        jwk: dict[str, Any] = ECAlgorithm.to_jwk(self.ec_key.public_key(), as_dict=True)
        return {**jwk, "kid": kid, "use": "sig", "alg": "ES256"}

    def rs256(self, kid: str = "k1", **overrides: Any) -> str:
        return jwt.encode(idp_claims(**overrides), self.rsa_key, algorithm="RS256", headers={"kid": kid})

    def es256(self, kid: str = "k2", **overrides: Any) -> str:
        return jwt.encode(idp_claims(**overrides), self.ec_key, algorithm="ES256", headers={"kid": kid})


def idp_claims(**overrides: Any) -> dict[str, Any]:
    return claims(**{"iss": ISSUER, "aud": AUDIENCE, **overrides})


def jwks_verifier(url: str) -> TokenVerifier:
    return TokenVerifier(Settings(env="dev", jwt_jwks_url=url, jwt_issuer=ISSUER, jwt_audience=AUDIENCE))


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer(
        rsa_key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        ec_key=ec.generate_private_key(ec.SECP256R1()),
    )


@pytest.fixture(scope="module")
def jwks(issuer: Issuer) -> Iterator[JwksServer]:
    with serving_jwks() as server:
        server.publish(issuer.rsa_jwk("k1"), issuer.ec_jwk("k2"))
        yield server


async def test_jwks_rs256_token_with_kid_k1_verifies(jwks: JwksServer, issuer: Issuer) -> None:
    subject = await jwks_verifier(jwks.url).verify(issuer.rs256("k1", sub="idp-user-1"))
    assert subject.sub == "idp-user-1"
    assert subject.agency == "agency-tokens"
    assert subject.roles == frozenset({"case_worker"})


async def test_jwks_es256_token_with_kid_k2_verifies(jwks: JwksServer, issuer: Issuer) -> None:
    subject = await jwks_verifier(jwks.url).verify(issuer.es256("k2", roles=["supervisor"]))
    assert subject.roles == frozenset({"supervisor"})


async def test_jwks_keys_are_fetched_once_not_per_token(jwks: JwksServer, issuer: Issuer) -> None:
    verifier = jwks_verifier(jwks.url)
    before = jwks.requests
    for _ in range(5):
        await verifier.verify(issuer.rs256("k1"))
        await verifier.verify(issuer.es256("k2"))
    assert jwks.requests - before == 1


def rs256_header_naming_the_ec_key(issuer: Issuer) -> str:
    return issuer.rs256(kid="k2")


def es256_header_naming_the_rsa_key(issuer: Issuer) -> str:
    return issuer.es256(kid="k1")


def unknown_kid(issuer: Issuer) -> str:
    return issuer.rs256(kid="k9")


def no_kid(issuer: Issuer) -> str:
    return jwt.encode(idp_claims(), issuer.rsa_key, algorithm="RS256")


def rs256_signed_by_an_unpublished_key_under_k1(_: Issuer) -> str:
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(idp_claims(), impostor, algorithm="RS256", headers={"kid": "k1"})


def wrong_issuer(issuer: Issuer) -> str:
    return issuer.rs256("k1", iss=DEV_ISSUER)


@pytest.mark.parametrize(
    ("make_token", "explains"),
    [
        pytest.param(
            rs256_header_naming_the_ec_key, "does not match the issuer's key type", id="rs256-on-ec-key"
        ),
        pytest.param(
            es256_header_naming_the_rsa_key, "does not match the issuer's key type", id="es256-on-rsa-key"
        ),
        pytest.param(unknown_kid, "key the issuer does not publish", id="unknown-kid"),
        pytest.param(no_kid, "key the issuer does not publish", id="no-kid"),
        pytest.param(rs256_signed_by_an_unpublished_key_under_k1, "signature is not valid", id="forged-k1"),
        pytest.param(wrong_issuer, "issuer passage does not trust", id="dev-issuer-in-jwks-mode"),
    ],
)
async def test_jwks_mode_refuses(
    jwks: JwksServer, issuer: Issuer, make_token: Callable[[Issuer], str], explains: str
) -> None:
    with pytest.raises(Unauthenticated) as refused:
        await jwks_verifier(jwks.url).verify(make_token(issuer))
    assert refused.value.status_code == 401
    assert explains.lower() in refused.value.detail.lower()


async def test_jwks_server_down_is_503_not_500(issuer: Issuer) -> None:
    with serving_jwks() as server:
        url = server.url
    # The server is shut down and its port closed: nothing answers at `url` any more.
    with pytest.raises(ServiceUnavailable) as unavailable:
        await jwks_verifier(url).verify(issuer.rs256("k1"))
    assert unavailable.value.status_code == 503
    assert "issuer's keys cannot be fetched" in unavailable.value.detail


async def test_cached_jwks_keys_keep_working_while_the_server_is_down(issuer: Issuer) -> None:
    with serving_jwks() as server:
        server.publish(issuer.rsa_jwk("k1"))
        verifier = jwks_verifier(server.url)
        await verifier.verify(issuer.rs256("k1"))
    subject = await verifier.verify(issuer.rs256("k1", sub="still-works"))
    assert subject.sub == "still-works"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        pytest.param(500, b'{"error": "boom"}', id="http-500"),
        pytest.param(200, b"[]", id="json-array"),
        pytest.param(200, b"<html>Proxy login</html>", id="not-json"),
        pytest.param(200, b'{"keys": []}', id="empty-key-set"),
    ],
)
async def test_jwks_endpoint_answering_junk_is_503_not_500(issuer: Issuer, status: int, body: bytes) -> None:
    with serving_jwks() as server:
        server.status, server.body = status, body
        with pytest.raises(ServiceUnavailable) as unavailable:
            await jwks_verifier(server.url).verify(issuer.rs256("k1"))
    assert unavailable.value.status_code == 503


async def test_jwks_key_rotation_is_picked_up_when_an_unknown_kid_arrives(issuer: Issuer) -> None:
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with serving_jwks() as server:
        server.publish(issuer.rsa_jwk("k1"))
        verifier = jwks_verifier(server.url)
        await verifier.verify(issuer.rs256("k1"))

        rotated = Issuer(rsa_key=new_key, ec_key=issuer.ec_key)
        server.publish(issuer.rsa_jwk("k1"), rotated.rsa_jwk("k3"))
        await asyncio.sleep(5.2)  # past the verifier's own refresh throttle (5 s)
        subject = await verifier.verify(rotated.rs256("k3", sub="after-rotation"))
    assert subject.sub == "after-rotation"


async def test_a_verified_token_is_remembered_but_never_past_its_expiry(
    settings: Settings, token: TokenFactory
) -> None:
    strict = TokenVerifier(settings.model_copy(update={"jwt_leeway_seconds": 0}))
    short = token("agency-cache", ttl_seconds=2)
    first = await strict.verify(short)
    assert await strict.verify(short) == first  # the second answer comes from the cache
    await asyncio.sleep(3)
    with pytest.raises(Unauthenticated, match="expired"):
        await strict.verify(short)
