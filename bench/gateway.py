# ruff: noqa: E402  (the sys.path fix below must run before the imports)
"""Gateway benchmark, side by side in one run on one machine (loopback only, bounded).

Starts its own embedded PostgreSQL and NATS, migrates intake, referrals and the gateway, runs
`passage serve intake`, `passage serve referrals` and `passage serve gateway` as real processes, and
a trivial strawberry app (one resolver, no auth, no I/O) as a fourth. Then, at the same concurrency:

1. `client(id)` through the gateway, the owning agency's case worker (policy and audit on);
2. `client(id)` through the gateway across agencies (client record read from intake on every
   request; consents cached at the record's consent_revision, agreement cached; policy and audit on);
3. the same read straight from intake (`GET /v1/clients/{id}`);
4. a trivial strawberry query.

Prints req/s, p50 and p99 for each and the ratios (target: gateway >= 0.5x direct), the PDP decision
time in process (target < 50 us), and the service calls a 50-item referrals page with its clients
costs (the gateway reports its calls per operation in `extensions.upstream_calls` in dev).

    python bench/gateway.py            # 3000 requests or 30 s per target
    python bench/gateway.py --quick    # 400 requests or 8 s per target
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the `gateway` package; run as a script, its folder would shadow it.
_here = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if p and str(Path(p).resolve()) != _here] or sys.path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import os
import subprocess
import tempfile
import time
import timeit
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx

from passage.cli.embedded import EmbeddedNats, EmbeddedPostgres, free_port, port_open, tail
from passage.component import load_component
from passage.devkeys import DEV_AUDIENCE, DEV_ISSUER, ensure_dev_keys, mint_token
from passage.migrations import upgrade

SENDER, RECEIVER = "bench-harbour", "bench-bridge"
CONCURRENCY = 16
PAGE = 50

TRIVIAL_APP = """
import strawberry, uvicorn, sys
from fastapi import FastAPI
from strawberry.fastapi import GraphQLRouter

@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "world"

app = FastAPI()
app.include_router(GraphQLRouter(strawberry.Schema(query=Query)), prefix="/graphql")
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")


async def load(
    send: Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]], base: str, total: int, seconds: float
) -> tuple[float, float, float, int]:
    """req/s, p50 ms, p99 ms, failures."""
    latencies: list[float] = []
    failures = 0
    issued = 0
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:

        async def worker() -> None:
            nonlocal issued, failures
            while issued < total and time.monotonic() < deadline:
                n = issued
                issued += 1
                t0 = time.perf_counter()
                response = await send(http, n)
                latencies.append((time.perf_counter() - t0) * 1000)
                if response.status_code != 200 or b'"errors"' in response.content:
                    failures += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, pct(latencies, 0.5), pct(latencies, 0.99), failures


def pdp_timings() -> tuple[float, float]:
    """Microseconds per decision: owner, cross-agency (consent + agreement)."""
    from gateway.policy.agreements import DataSharingAgreement
    from gateway.policy.pdp import ClientFacts, Requester, decide
    from passage.consent import ConsentRecord

    now = datetime.now(UTC)
    client = ClientFacts(id=uuid.uuid4(), agency_id=SENDER)
    consents = [
        ConsentRecord.model_validate(
            {
                "id": str(uuid.uuid4()),
                "client_id": str(client.id),
                "agency_id": SENDER,
                "grantee_agency_id": RECEIVER,
                "purposes": ["referral"],
                "categories": ["identity", "needs", "contact"],
                "decision": "permit",
                "period_start": (now - timedelta(days=1)).isoformat(),
                "period_end": None,
                "status": "active",
            }
        )
    ]
    agreement = DataSharingAgreement.model_validate(
        {
            "id": str(uuid.uuid4()),
            "version": 1,
            "parties": [SENDER, RECEIVER],
            "status": "active",
            "in_force": True,
            "valid_from": (now - timedelta(days=1)).isoformat(),
            "directions": [
                {
                    "from_agency": SENDER,
                    "to_agency": RECEIVER,
                    "categories": ["identity", "needs", "contact", "health"],
                    "purposes": ["referral"],
                }
            ],
        }
    )
    owner = Requester(sub="w", agency=SENDER, roles=frozenset({"case_worker"}), purpose="case_management")
    other = Requester(sub="r", agency=RECEIVER, roles=frozenset({"case_worker"}), purpose="referral")
    n = 20_000
    t_owner = timeit.timeit(
        lambda: decide(owner, client, consents=[], agreements=[], grant=None, at=now), number=n
    )
    t_cross = timeit.timeit(
        lambda: decide(other, client, consents=consents, agreements=[agreement], grant=None, at=now), number=n
    )
    return t_owner / n * 1e6, t_cross / n * 1e6


async def seed(urls: dict[str, str], tok: Callable[[str, str], dict[str, str]]) -> tuple[list[str], str]:
    """An agreement, a service, PAGE clients with consents and a referral each. Returns client ids."""
    async with (
        httpx.AsyncClient(base_url=urls["intake"], timeout=30) as intake,
        httpx.AsyncClient(base_url=urls["referrals"], timeout=30) as ref,
    ):
        org, service = str(uuid.uuid4()), str(uuid.uuid4())
        r = await ref.post(
            "/v1/hsds/import",
            json={
                "organizations": [{"id": org, "name": "Bench clinic", "agency_id": RECEIVER}],
                "services": [{"id": service, "organization_id": org, "name": "Counselling"}],
            },
            headers=tok("network", "coordinator"),
        )
        assert r.status_code == 200, r.text
        r = await ref.post(
            "/v1/agreements",
            json={
                "parties": [SENDER, RECEIVER],
                "valid_from": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
                "directions": [
                    {
                        "from_agency": SENDER,
                        "to_agency": RECEIVER,
                        "categories": ["identity", "needs", "demographics"],
                        "purposes": ["referral"],
                        "referral_types": ["any"],
                    }
                ],
            },
            headers=tok(SENDER, "agency_admin"),
        )
        assert r.status_code == 201, r.text
        r = await ref.post(f"/v1/agreements/{r.json()['id']}/sign", headers=tok(RECEIVER, "agency_admin"))
        assert r.status_code == 200, r.text
        ids: list[str] = []
        for i in range(PAGE):
            r = await intake.post(
                "/v1/clients",
                json={
                    "given_name": f"G{uuid.uuid4().hex[:10]}",  # unlike each other: no duplicates
                    "family_name": f"Z{uuid.uuid4().hex[:12]}",
                    "sex": "female",
                    "birth_year": 1980 + i % 30,
                },
                headers=tok(SENDER, "case_worker"),
            )
            assert r.status_code == 201, r.text
            cid = r.json()["id"]
            r = await intake.post(
                f"/v1/clients/{cid}/consents",
                json={
                    "grantee_agency_id": RECEIVER,
                    "purposes": ["referral"],
                    "categories": ["identity", "needs", "demographics"],
                    "obtained_by": "written",
                },
                headers=tok(SENDER, "case_worker"),
            )
            assert r.status_code == 201, r.text
            r = await ref.post(
                "/v1/referrals",
                json={
                    "client_id": cid,
                    "service_id": service,
                    "receiving_agency_id": RECEIVER,
                    "reasons": "bench",
                    "consent_id": r.json()["id"],
                },
                headers=tok(SENDER, "case_worker"),
            )
            assert r.status_code == 201, r.text
            ids.append(cid)
        return ids, service


async def run(urls: dict[str, str], private: Path, total: int, seconds: float) -> None:
    def tok(agency: str, role: str) -> dict[str, str]:
        token = mint_token(private, agency=agency, roles=(role,), sub=f"{agency}-{role}", ttl_seconds=3600)
        return {"Authorization": f"Bearer {token}"}

    ids, _ = await seed(urls, tok)
    query = "query($id: ID!) { client(id: $id) { id givenName familyName birthYear } }"
    owner = tok(SENDER, "case_worker") | {"X-Purpose-Of-Use": "case_management"}
    other = tok(RECEIVER, "case_worker") | {"X-Purpose-Of-Use": "referral"}
    direct_headers = tok(SENDER, "case_worker")

    def via_gateway(headers: dict[str, str]) -> Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]:
        async def send(http: httpx.AsyncClient, n: int) -> httpx.Response:
            body = {"query": query, "variables": {"id": ids[n % len(ids)]}}
            return await http.post("/graphql", json=body, headers=headers)

        return send

    async def direct(http: httpx.AsyncClient, n: int) -> httpx.Response:
        return await http.get(f"/v1/clients/{ids[n % len(ids)]}", headers=direct_headers)

    async def trivial(http: httpx.AsyncClient, n: int) -> httpx.Response:
        return await http.post("/graphql", json={"query": "{ hello }"})

    page_query = (
        'query { referrals(first: 50, direction: "received") { edges { node { id status '
        "client { id givenName birthYear } } } } }"
    )
    async with httpx.AsyncClient(base_url=urls["gateway"], timeout=60) as http:
        # Before any other load: the first page finds no consents or agreements cached.
        for label in ("first (nothing cached)", "second"):
            r = await http.post("/graphql", json={"query": page_query}, headers=other)
            body = r.json()
            edges = body["data"]["referrals"]["edges"]
            released = sum(1 for e in edges if e["node"]["client"] and e["node"]["client"]["givenName"])
            calls = body.get("extensions", {}).get("upstream_calls", {})
            print(
                f"referrals page of {len(edges)} with clients, {label}: {sum(calls.values())} service calls "
                f"{dict(sorted(calls.items()))}; {released} clients released"
            )

    targets = [
        ("gateway client(id), owner", urls["gateway"], via_gateway(owner)),
        ("gateway client(id), cross-agency", urls["gateway"], via_gateway(other)),
        ("intake GET /v1/clients/{id}", urls["intake"], direct),
        ("trivial strawberry { hello }", urls["trivial"], trivial),
    ]
    for _, base, send in targets:  # warm-up: pools, caches, the field labels
        await load(send, base, 100, 5)
    results: dict[str, tuple[float, float, float, int]] = {}
    for name, base, send in targets:
        results[name] = await load(send, base, total, seconds)
    print(f"\nconcurrency {CONCURRENCY}, up to {total} requests or {seconds:.0f} s per target (loopback)")
    print(f"  {'target':36s} {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} {'errors':>7s}")
    for name, (rps, p50, p99, failed) in results.items():
        print(f"  {name:36s} {rps:8.0f} {p50:8.2f} {p99:8.2f} {failed:7d}")
    direct_rps = results["intake GET /v1/clients/{id}"][0]
    trivial_rps = results["trivial strawberry { hello }"][0]
    for name in ("gateway client(id), owner", "gateway client(id), cross-agency"):
        rps = results[name][0]
        verdict = "meets" if rps >= 0.5 * direct_rps else "FALLS SHORT of"
        print(
            f"  ratio {name}: {rps / direct_rps:.2f}x direct ({verdict} the 0.5x target), "
            f"{rps / trivial_rps:.2f}x trivial strawberry"
        )

    owner_us, cross_us = pdp_timings()
    print(
        f"\nPDP decision (in process): owner {owner_us:.1f} us, "
        f"cross-agency {cross_us:.1f} us (target < 50 us)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a short run")
    args = parser.parse_args()
    total, seconds = (400, 8.0) if args.quick else (3000, 30.0)

    root = Path(tempfile.mkdtemp(prefix="passage-bench-gateway-"))
    postgres = EmbeddedPostgres(root / "pg", durable=True)
    nats = EmbeddedNats(root / "nats")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        postgres.start()
        nats.start()
        database_url = postgres.ensure_database("passage_bench")
        for name in ("intake", "referrals", "gateway"):
            component = load_component(name)
            upgrade(schema=component.schema, migrations=component.migrations, database_url=database_url)
        private, public = ensure_dev_keys(root / "keys")
        ports = {name: free_port() for name in ("intake", "referrals", "gateway", "trivial")}
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PASSAGE_")}
        env.update(
            PASSAGE_ENV="dev",
            PASSAGE_DATABASE_URL=database_url,
            PASSAGE_NATS_URL=nats.url,
            PASSAGE_JWT_PUBLIC_KEY_FILE=str(public),
            PASSAGE_JWT_PRIVATE_KEY_FILE=str(private),
            PASSAGE_JWT_ISSUER=DEV_ISSUER,
            PASSAGE_JWT_AUDIENCE=DEV_AUDIENCE,
            PASSAGE_LOG_LEVEL="WARNING",
            PASSAGE_DATABASE_POOL_SIZE="20",
            PASSAGE_INTAKE_URL=urls["intake"],
            PASSAGE_REFERRALS_URL=urls["referrals"],
            PASSAGE_GATEWAY_RATE_PER_SECOND="1000000",
            PASSAGE_GATEWAY_RATE_BURST="1000000",
        )
        for name in ("intake", "referrals", "gateway", "trivial"):
            cmd = (
                [sys.executable, "-c", TRIVIAL_APP, str(ports[name])]
                if name == "trivial"
                else [sys.executable, "-m", "passage", "serve", name, "--port", str(ports[name])]
            )
            with open(root / f"{name}.log", "ab") as log:
                procs.append(
                    subprocess.Popen(
                        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
                    )
                )
        deadline = time.monotonic() + 120
        for (name, port), proc in zip(ports.items(), procs, strict=True):
            while not port_open(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    print(tail(root / f"{name}.log"), file=sys.stderr)
                    return 1
                time.sleep(0.2)
        asyncio.run(run(urls, private, total, seconds))
        return 0
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        nats.stop()
        postgres.stop()


if __name__ == "__main__":
    sys.exit(main())
