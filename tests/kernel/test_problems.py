"""RFC 9457 problems, request ids and the operations probes, through the real intake app."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import date

import httpx
import pytest
from fastapi import APIRouter

from passage.component import load_component
from passage.errors import PROBLEM_JSON
from passage.settings import Settings
from passage.web import build_app
from tests.conftest import TokenFactory, bearer
from tests.support import running

CLIENT = {"given_name": "Omar", "family_name": "Nasser", "birth_year": 1985, "sex": "male"}


@pytest.fixture(scope="module")
async def intake(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running("intake", settings) as (_, client):
        yield client


@pytest.fixture(scope="module")
def auth(token: TokenFactory) -> dict[str, str]:
    return bearer(token("agency-problems"))


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem: dict[str, object] = response.json()
    assert problem["status"] == status
    assert str(problem["type"]).startswith("urn:passage:problem:")
    assert problem["title"]
    assert problem["detail"]
    return problem


def fields_of(problem: dict[str, object]) -> dict[str, dict[str, str]]:
    errors = problem["errors"]
    assert isinstance(errors, list)
    return {e["field"]: e for e in errors}


async def test_invalid_body_is_422_listing_each_bad_field(
    intake: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    body = {"given_name": "Omar", "birth_year": "nineteen-eighty", "sex": "alien"}  # no family_name
    response = await intake.post("/v1/clients", json=body, headers=auth)
    problem = assert_problem(response, 422)
    assert problem["type"] == "urn:passage:problem:validation-error"
    assert problem["instance"] == "/v1/clients"
    errors = fields_of(problem)
    assert set(errors) == {"body.family_name", "body.birth_year", "body.sex"}
    for error in errors.values():
        assert error["message"]
        assert error["code"]
    assert errors["body.family_name"]["code"] == "missing"
    # The detail names the fields too, for a developer reading only the detail.
    assert "body.birth_year" in str(problem["detail"])


async def test_invalid_json_is_a_4xx_problem_not_a_500(
    intake: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await intake.post(
        "/v1/clients",
        content=b'{"given_name": "Omar", ',
        headers={**auth, "Content-Type": "application/json"},
    )
    assert 400 <= response.status_code < 500, response.text
    assert_problem(response, response.status_code)


async def test_unknown_route_is_404_problem(intake: httpx.AsyncClient) -> None:
    response = await intake.get("/v1/no-such-thing")
    problem = assert_problem(response, 404)
    assert problem["type"] == "urn:passage:problem:not-found"
    assert problem["instance"] == "/v1/no-such-thing"


async def test_wrong_method_is_405_problem_naming_the_allowed_ones(
    intake: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await intake.delete(f"/v1/clients/{uuid.uuid4()}", headers=auth)
    problem = assert_problem(response, 405)
    assert problem["type"] == "urn:passage:problem:method-not-allowed"
    assert "GET" in response.headers["allow"]


async def test_invalid_uuid_in_path_is_422_naming_the_path_parameter(
    intake: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await intake.get("/v1/clients/not-a-uuid", headers=auth)
    problem = assert_problem(response, 422)
    assert set(fields_of(problem)) == {"path.client_id"}


async def test_birth_year_in_the_future_is_422(intake: httpx.AsyncClient, auth: dict[str, str]) -> None:
    body = {**CLIENT, "birth_year": date.today().year + 1}
    response = await intake.post("/v1/clients", json=body, headers=auth)
    problem = assert_problem(response, 422)
    errors = fields_of(problem)
    assert set(errors) == {"body.birth_year"}
    assert "future" in errors["body.birth_year"]["message"]


@pytest.mark.parametrize("given_name", ["", "   ", "\t\n"], ids=["empty", "spaces", "whitespace"])
async def test_blank_given_name_is_422(
    intake: httpx.AsyncClient, auth: dict[str, str], given_name: str
) -> None:
    response = await intake.post("/v1/clients", json={**CLIENT, "given_name": given_name}, headers=auth)
    problem = assert_problem(response, 422)
    assert set(fields_of(problem)) == {"body.given_name"}


async def test_valid_body_is_still_accepted(intake: httpx.AsyncClient, auth: dict[str, str]) -> None:
    # The counterpart of the 422 cases: the same request with good fields goes through.
    response = await intake.post("/v1/clients", json={**CLIENT, "given_name": "  Omar "}, headers=auth)
    assert response.status_code == 201, response.text
    assert response.json()["given_name"] == "Omar"


@pytest.mark.parametrize(
    ("method", "path", "authenticated"),
    [
        ("GET", "/health", False),
        ("GET", "/ready", False),
        ("GET", "/metrics", False),
        ("GET", "/v1/no-such-thing", False),
        ("GET", "/v1/clients/{id}", False),  # 401
        ("GET", "/v1/clients/{id}", True),  # 404
        ("GET", "/v1/clients/not-a-uuid", True),  # 422
        ("POST", "/v1/clients", True),  # 201
        ("PATCH", "/v1/clients", True),  # 405
    ],
)
async def test_every_response_has_a_request_id(
    intake: httpx.AsyncClient, auth: dict[str, str], method: str, path: str, authenticated: bool
) -> None:
    response = await intake.request(
        method,
        path.format(id=uuid.uuid4()),
        json=CLIENT if method == "POST" else None,
        headers=auth if authenticated else {},
    )
    assert response.headers.get("x-request-id"), (
        f"{method} {path} -> {response.status_code} without x-request-id"
    )


async def test_each_request_gets_its_own_request_id(intake: httpx.AsyncClient) -> None:
    first = await intake.get("/health")
    second = await intake.get("/health")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.parametrize("path", ["/health", "/v1/no-such-thing", "/v1/clients/not-a-uuid"])
async def test_supplied_request_id_is_echoed_back(intake: httpx.AsyncClient, path: str) -> None:
    request_id = f"partner-trace-{uuid.uuid4().hex}"
    response = await intake.get(path, headers={"X-Request-ID": request_id})
    assert response.headers["x-request-id"] == request_id


@contextlib.asynccontextmanager
async def intake_with_a_failing_route(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The real intake app plus one route that fails unexpectedly, answered without re-raising."""
    boom = APIRouter()

    @boom.get("/test-only/boom")
    async def fail() -> None:
        raise RuntimeError("secret internal detail: db password is hunter2")

    intake = load_component("intake")
    app = build_app(dataclasses.replace(intake, routers=[*intake.routers, boom]), settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            yield client


async def test_unexpected_error_is_a_500_problem_that_leaks_nothing(settings: Settings) -> None:
    async with intake_with_a_failing_route(settings) as client:
        response = await client.get("/test-only/boom")
    problem = assert_problem(response, 500)
    assert problem["type"] == "urn:passage:problem:internal-error"
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text


async def test_unexpected_error_still_carries_the_request_id(settings: Settings) -> None:
    async with intake_with_a_failing_route(settings) as client:
        response = await client.get("/test-only/boom", headers={"X-Request-ID": "trace-of-a-500"})
    assert response.status_code == 500
    assert response.headers.get("x-request-id") == "trace-of-a-500"


async def test_health_answers_ok(intake: httpx.AsyncClient) -> None:
    response = await intake.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_checks_database_and_nats(intake: httpx.AsyncClient) -> None:
    response = await intake.get("/ready")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"] == {"database": "ok", "nats": "ok"}


async def test_metrics_count_http_requests_by_route_template(intake: httpx.AsyncClient) -> None:
    await intake.get(f"/v1/clients/{uuid.uuid4()}")  # a 401, counted under its route template
    response = await intake.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "# TYPE passage_http_requests_total counter" in text
    counted = [
        line
        for line in text.splitlines()
        if line.startswith("passage_http_requests_total{")
        and 'component="intake"' in line
        and 'route="/v1/clients/{client_id}"' in line
        and 'status="401"' in line
    ]
    assert counted, "no passage_http_requests_total sample for GET /v1/clients/{client_id} -> 401"
