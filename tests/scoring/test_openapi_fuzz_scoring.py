"""Scoring's OpenAPI fuzzed by schemathesis against a real scoring process: no 5xx.

(The suite-wide fuzz in tests/contract needs the whole `passage dev`; this one needs only scoring.)
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.case import Case
from schemathesis.schemas import BaseSchema

from passage.settings import Settings
from tests.conftest import TokenFactory
from tests.support import component_env, start_component_process_on_port


@pytest.fixture(scope="module")
def scoring_url(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("fuzz") / "scoring.log"
    proc, port = start_component_process_on_port("scoring", component_env(settings), str(log))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        print(Path(log).read_text()[-3000:] if Path(log).exists() else "")


@pytest.fixture
def scoring_schema(scoring_url: str) -> BaseSchema:
    return schemathesis.openapi.from_url(f"{scoring_url}/openapi.json")


schema = schemathesis.pytest.from_fixture("scoring_schema")


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_input_makes_scoring_fail(case: Case, token: TokenFactory) -> None:
    tok = token("demo-agency", ("case_worker", "supervisor", "agency_admin"))
    case.call_and_validate(
        headers={"Authorization": f"Bearer {tok}"}, checks=[not_a_server_error], timeout=10
    )
