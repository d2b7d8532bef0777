"""`passage dev` as a developer runs it: real processes, the skeleton across all five, clean stops."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import jwt
import pytest

from passage.devkeys import key_paths
from tests.devstack import DevStack, dev_env, running_dev, start, stop, wait_gone

pytestmark = pytest.mark.e2e

PERSON = {"given_name": "Yusuf", "family_name": "Haddad", "birth_year": 1988, "sex": "male"}


def graphql(stack: DevStack, query: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(stack.gateway, json={"query": query}, headers=headers, timeout=10)


def poll(
    get: Callable[[], httpx.Response], ready: Callable[[httpx.Response], bool], timeout: float = 20
) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        try:
            response = get()
        except httpx.TransportError as exc:  # a component restarting refuses connections
            last = repr(exc)
        else:
            if ready(response):
                return
            last = f"{response.status_code} {response.text}"
        assert time.monotonic() < deadline, f"not reached in {timeout}s; last: {last}"
        time.sleep(0.1)


def test_dev_json_names_every_component(dev_stack: DevStack) -> None:
    info = json.loads((dev_stack.data_dir / "dev.json").read_text())
    assert info["gateway"].endswith("/graphql")
    assert set(info["services"]) == {"intake", "referrals", "scoring", "notifications"}
    assert info["database_url"].startswith("postgresql")
    assert info["nats_url"].startswith("nats://")
    assert set(info["demo"]["agencies"]) >= {"demo-agency"}
    assert len(info["demo"]["agencies"]) >= 2


def test_passage_token_mints_a_token_the_gateway_accepts(dev_stack: DevStack) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "passage",
            "token",
            "--data-dir",
            str(dev_stack.data_dir),
            "--agency",
            "demo-agency",
            "--role",
            "case_worker",
            "--sub",
            "cw-1",
            "--ttl",
            "600",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    token = result.stdout.strip().splitlines()[-1]
    demo_client = dev_stack.info["demo"]["clients"]["demo-agency"][0]
    response = graphql(
        dev_stack,
        f'{{ client(id: "{demo_client}") {{ id }} }}',
        {"Authorization": f"Bearer {token}", "X-Purpose-Of-Use": "case_management"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"client": {"id": demo_client}}


def test_the_walking_skeleton_runs_end_to_end_across_real_processes(dev_stack: DevStack) -> None:
    token = dev_stack.token("demo-agency")
    auth = {"Authorization": f"Bearer {token}"}
    created = httpx.post(f"{dev_stack.service('intake')}/v1/clients", json=PERSON, headers=auth, timeout=10)
    assert created.status_code == 201, created.text
    client_id = created.json()["id"]

    poll(
        lambda: httpx.get(f"{dev_stack.service('scoring')}/v1/clients/{client_id}/schedule", headers=auth),
        lambda r: r.status_code == 200 and [i["round"] for i in r.json()["items"]] == ["baseline"],
    )
    poll(
        lambda: httpx.get(f"{dev_stack.service('notifications')}/v1/notifications?limit=50", headers=auth),
        lambda r: any(n["resource"] == f"client/{client_id}" for n in r.json()["items"]),
    )
    query = f'{{ client(id: "{client_id}") {{ id }} }}'
    answered = graphql(dev_stack, query, auth | {"X-Purpose-Of-Use": "case_management"})
    assert answered.json()["data"] == {"client": {"id": client_id}}


def test_the_gateway_refuses_a_request_without_a_token_or_a_purpose(dev_stack: DevStack) -> None:
    query = '{ client(id: "00000000-0000-0000-0000-000000000000") { id } }'
    no_token = graphql(dev_stack, query, {"X-Purpose-Of-Use": "case_management"})
    assert no_token.status_code == 401
    assert no_token.headers["content-type"] == "application/problem+json"
    no_purpose = graphql(dev_stack, query, {"Authorization": f"Bearer {dev_stack.token()}"})
    assert no_purpose.status_code == 400
    assert "X-Purpose-Of-Use" in no_purpose.json()["detail"]
    bad_purpose = graphql(
        dev_stack, query, {"Authorization": f"Bearer {dev_stack.token()}", "X-Purpose-Of-Use": "curiosity"}
    )
    assert bad_purpose.status_code == 400


def test_the_gateway_returns_only_the_callers_own_agencys_clients(dev_stack: DevStack) -> None:
    other_agency_client = dev_stack.info["demo"]["clients"]["harbour-aid"][0]
    response = graphql(
        dev_stack,
        f'{{ client(id: "{other_agency_client}") {{ id }} }}',
        {"Authorization": f"Bearer {dev_stack.token('demo-agency')}", "X-Purpose-Of-Use": "case_management"},
    )
    body = response.json()
    assert (body["data"] or {}).get("client") is None  # nothing about the client leaks
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def test_a_second_run_keeps_the_data_and_stopping_leaves_no_process(
    tmp_path: Path, fresh_database: Callable[[], str | None]
) -> None:
    env = dev_env(fresh_database())
    data_dir = tmp_path / "data"
    with running_dev(data_dir, env) as first:
        token = first.token("agency-restart")
        auth = {"Authorization": f"Bearer {token}"}
        created = httpx.post(f"{first.service('intake')}/v1/clients", json=PERSON, headers=auth, timeout=10)
        client_id = created.json()["id"]
        children = first.descendants()
        embedded = [v for v in ("PASSAGE_DATABASE_URL", "PASSAGE_NATS_URL") if v not in env]
        assert len(children) >= 5 + len(
            embedded
        )  # five components, and postgres and nats-server unless external
    assert first.proc.returncode == 0
    assert wait_gone(children, timeout=5) == []

    second = start(data_dir, env)
    try:
        # The same data folder: same key (old tokens verify), same database.
        read = httpx.get(f"{second.service('intake')}/v1/clients/{client_id}", headers=auth, timeout=10)
        assert read.status_code == 200
        assert read.json()["family_name"] == "Haddad"
        public_key = key_paths(data_dir)[1].read_bytes()
        assert (
            jwt.decode(token, public_key, algorithms=["RS256"], audience="passage")["agency"]
            == "agency-restart"
        )
        children = second.descendants()
    finally:
        # SIGKILL: the parent gets no chance to clean up; its children must go anyway.
        stop(second, signal.SIGKILL)
    assert wait_gone(children, timeout=30) == []


def test_a_component_killed_with_sigkill_is_restarted_and_misses_no_event(
    tmp_path: Path, fresh_database: Callable[[], str | None]
) -> None:
    with running_dev(tmp_path / "data", dev_env(fresh_database())) as stack:
        auth = {"Authorization": f"Bearer {stack.token('agency-kill')}"}
        intake, notices = (
            stack.service("intake"),
            f"{stack.service('notifications')}/v1/notifications?limit=50",
        )

        def register() -> str:
            response = httpx.post(f"{intake}/v1/clients", json=PERSON, headers=auth, timeout=10)
            assert response.status_code == 201, response.text
            return str(response.json()["id"])

        ids = [register() for _ in range(2)]
        victim = next(p for p in stack.descendants() if "notifications" in " ".join(p.cmdline()))
        victim.kill()
        ids += [register() for _ in range(3)]  # committed while notifications is down

        def resources(r: httpx.Response) -> list[str]:
            return [n["resource"] for n in r.json()["items"]] if r.status_code == 200 else []

        poll(
            lambda: httpx.get(notices, headers=auth, timeout=10),
            lambda r: sorted(resources(r)) == sorted(f"client/{i}" for i in ids),
            timeout=60,
        )
        replacement = next(p for p in stack.descendants() if "notifications" in " ".join(p.cmdline()))
        assert replacement.pid != victim.pid
    assert "notifications exited" in stack.output.read_text()
