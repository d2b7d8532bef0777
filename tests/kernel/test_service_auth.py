"""A component's own identity: minted locally in dev, client credentials from the OIDC provider otherwise."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from passage.auth import TokenVerifier
from passage.devkeys import mint_token
from passage.errors import ServiceUnavailable
from passage.service_auth import SERVICE_AGENCY, ServiceAuth, ServiceIdentity
from passage.settings import Settings

REAL_SECRET = "a-real-production-secret-0123456789abcdef"


async def test_dev_service_tokens_are_accepted_by_the_verifier(settings: Settings) -> None:
    identity = ServiceIdentity(settings, "scoring")
    token = await identity.token()
    subject = await TokenVerifier(settings).verify(token)
    assert subject.sub == "service:scoring"
    assert subject.agency == SERVICE_AGENCY
    assert subject.roles == {"service"}
    assert await identity.token() == token, "a valid token is reused, not minted per call"


async def test_without_a_configured_identity_the_call_is_unavailable(settings: Settings) -> None:
    bare = settings.model_copy(update={"jwt_private_key_file": None, "service_token_url": None})
    identity = ServiceIdentity(bare, "scoring")
    assert not identity.configured
    with pytest.raises(ServiceUnavailable, match="PASSAGE_SERVICE_TOKEN_URL"):
        await identity.token()


def test_a_private_key_is_refused_outside_dev(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="PASSAGE_JWT_PRIVATE_KEY_FILE"):
        Settings(
            env="production",
            secret_key=REAL_SECRET,
            jwt_jwks_url="https://idp.example.org/certs",
            jwt_private_key_file=tmp_path / "key.pem",
        )


class TokenEndpoint:
    """A local OAuth2 token endpoint: checks the client credentials and issues real signed tokens."""

    def __init__(self, private_key: Path, issuer: str, audience: str) -> None:
        self.requests: list[dict[str, str]] = []
        self.issued = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                outer.requests.append(form)
                if form.get("client_secret") != "s3cret" or form.get("grant_type") != "client_credentials":
                    body, status = b'{"error":"unauthorized_client"}', 401
                else:
                    outer.issued += 1
                    token = mint_token(
                        private_key,
                        agency="passage",
                        roles=["service"],
                        sub=f"service-account-{form['client_id']}",
                        issuer=issuer,
                        audience=audience,
                        ttl_seconds=300,
                    )
                    body, status = json.dumps({"access_token": token, "expires_in": 300}).encode(), 200
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> TokenEndpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def token_endpoint(settings: Settings) -> Iterator[TokenEndpoint]:
    assert settings.jwt_private_key_file
    with TokenEndpoint(settings.jwt_private_key_file, settings.jwt_issuer, settings.jwt_audience) as endpoint:
        yield endpoint


async def test_client_credentials_are_exchanged_and_cached(
    settings: Settings, token_endpoint: TokenEndpoint
) -> None:
    configured = settings.model_copy(
        update={
            "service_token_url": token_endpoint.url,
            "service_client_id": "passage-services",
            "service_client_secret": SecretStr("s3cret"),
        }
    )
    identity = ServiceIdentity(configured, "gateway")
    first = await identity.token()
    second = await identity.token()
    assert first == second
    assert token_endpoint.issued == 1
    assert token_endpoint.requests[0]["client_id"] == "passage-services"
    subject = await TokenVerifier(settings).verify(first)
    assert subject.roles == {"service"}
    assert await identity.token(renew=True) != first
    assert token_endpoint.issued == 2


async def test_refused_client_credentials_are_unavailable_not_a_crash(
    settings: Settings, token_endpoint: TokenEndpoint
) -> None:
    configured = settings.model_copy(
        update={"service_token_url": token_endpoint.url, "service_client_secret": SecretStr("wrong")}
    )
    with pytest.raises(ServiceUnavailable, match="refused our client credentials"):
        await ServiceIdentity(configured, "gateway").token()


async def test_the_auth_flow_renews_the_token_once_on_401(settings: Settings) -> None:
    """A target that rejects the first token (say, after a key rotation) gets a fresh one, once."""
    identity = ServiceIdentity(settings, "notifications")
    seen: list[str] = []

    def target(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(401 if len(seen) == 1 else 200)

    # The transport stands in for the *target* service; the unit under test is the auth flow.
    async with httpx.AsyncClient(transport=httpx.MockTransport(target), auth=ServiceAuth(identity)) as http:
        first = await identity.token()
        response = await http.get("http://intake.invalid/v1/x")
    assert response.status_code == 200
    assert len(seen) == 2
    assert seen[0] == f"Bearer {first}"
    assert seen[1] != seen[0]
