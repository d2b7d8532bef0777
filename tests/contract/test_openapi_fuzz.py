"""Every service's OpenAPI, fuzzed by schemathesis against the running `passage dev`: no 5xx, ever.

The operations are read from each live schema at run time, and the services from the component
registry, so an endpoint or a service added later is fuzzed without editing this file.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.case import Case
from schemathesis.schemas import BaseSchema

from passage.component import component_names
from tests.devstack import DevStack

pytestmark = pytest.mark.e2e

SERVICES = [name for name in component_names() if name != "gateway"]


@pytest.fixture(params=SERVICES)
def service_schema(request: pytest.FixtureRequest, dev_stack: DevStack) -> BaseSchema:
    url = dev_stack.service(request.param)
    return schemathesis.openapi.from_url(f"{url}/openapi.json")


schema = schemathesis.pytest.from_fixture("service_schema")


# Every operation of a service is one test here; a service with many operations needs minutes.
@pytest.mark.timeout(900)
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_input_makes_a_service_fail(case: Case, dev_stack: DevStack) -> None:
    token = dev_stack.token("demo-agency", ("case_worker", "supervisor", "agency_admin"))
    case.call_and_validate(
        headers={"Authorization": f"Bearer {token}"},
        checks=[not_a_server_error],
        timeout=10,
    )


@pytest.fixture
def gateway_schema(dev_stack: DevStack) -> BaseSchema:
    return schemathesis.graphql.from_url(dev_stack.gateway, headers=_gateway_headers(dev_stack))


def _gateway_headers(stack: DevStack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.token()}", "X-Purpose-Of-Use": "case_management"}


gateway = schemathesis.pytest.from_fixture("gateway_schema")


@pytest.mark.timeout(900)
@gateway.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_query_makes_the_gateway_fail(case: Case, dev_stack: DevStack) -> None:
    case.call_and_validate(headers=_gateway_headers(dev_stack), checks=[not_a_server_error], timeout=10)
