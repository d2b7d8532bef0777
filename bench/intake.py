"""Intake registration throughput: POST /v1/clients at concurrency 16, clients/s and latency.

Starts its own embedded PostgreSQL (durable, as in production) and NATS on loopback ports chosen at
run time, migrates intake, runs `passage serve intake` as a real process (relay included), then
registers clients from 16 concurrent workers for a bounded count and time. Each registration does
the whole job: validation, trigram duplicate search in the agency, the insert, the outbox event,
the change-feed row (under the per-agency lock) and, for half the requests, an Idempotency-Key.

Prints clients/s, p50/p95/p99/max latency, how many registrations got a duplicate warning, and
the CPU spent per registration by the intake process and by PostgreSQL (the machine is shared:
CPU per request is steadier than throughput when other work runs alongside).

    python bench/intake.py                     # 4000 registrations or 60 s
    python bench/intake.py --quick             # 600 registrations or 15 s
    python bench/intake.py --quick --preload 20000   # the agency already holds 20 000 clients
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil

from passage.cli.embedded import EmbeddedNats, EmbeddedPostgres, free_port, port_open, tail
from passage.component import load_component
from passage.devkeys import DEV_AUDIENCE, DEV_ISSUER, ensure_dev_keys, mint_token
from passage.migrations import upgrade

CONCURRENCY = 16
GIVEN = ("Aminata", "Moussa", "Fatou", "Ibrahima", "Mariama", "Ousmane", "Awa", "Cheikh", "Khady", "Lamine")
FAMILY = ("Diallo", "Ndiaye", "Sow", "Ba", "Fall", "Diop", "Sarr", "Gueye", "Faye", "Cisse")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def body(rng: random.Random, n: int) -> dict[str, Any]:
    return {
        "given_name": rng.choice(GIVEN),
        "family_name": f"{rng.choice(FAMILY)}{n % 97}",
        "birth_year": rng.randint(1960, 2006),
        "sex": rng.choice(("female", "male")),
        "gender": rng.choice(("woman", "man")),
        "area": {"admin1": rng.choice(("Dakar", "Thies", "Kolda"))},
        "phone": f"+221 77 {rng.randint(100, 999)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
        "preferred_language": "fr",
        "migration_phase": "returnee",
        "vulnerabilities": rng.choice(([], ["disability"], ["serious_medical_condition"])),
        "identity_documents": [{"kind": "passport", "number": f"A{n}", "expires_on": "2029-01-01"}],
    }


async def load(base: str, token: str, total: int, seconds: float) -> tuple[list[float], int, float, int]:
    latencies: list[float] = []
    errors = 0
    duplicates_flagged = 0
    counter = iter(range(total))
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:

        async def worker(seed: int) -> None:
            nonlocal errors, duplicates_flagged
            rng = random.Random(seed)
            for n in counter:
                if time.perf_counter() > deadline:
                    return
                headers = {"Authorization": f"Bearer {token}"}
                if n % 2:
                    headers["Idempotency-Key"] = str(uuid.uuid4())
                started = time.perf_counter()
                response = await http.post("/v1/clients", json=body(rng, n), headers=headers)
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code != 201:
                    errors += 1
                elif response.json()["duplicate_warning"]:
                    duplicates_flagged += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    return latencies, errors, elapsed, duplicates_flagged


async def preload(database_url: str, count: int) -> None:
    """`count` earlier clients of the agency (bench-like names), written straight to the table."""
    rng = random.Random(7)
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        rows = []
        for n in range(count):
            given, family = rng.choice(GIVEN), f"{rng.choice(FAMILY)}{n % 97}"
            year, sex = rng.randint(1960, 2006), rng.choice(("female", "male"))
            profile = {"given_name": given, "family_name": family, "birth_year": year, "sex": sex}
            rows.append((uuid.uuid4(), given, family, year, sex, json.dumps(profile)))
        await conn.executemany(
            "INSERT INTO intake.clients (id, agency_id, given_name, family_name, birth_year, sex, "
            "registered_by, created_at, profile) "
            "VALUES ($1, 'bench-agency', $2, $3, $4, $5, 'bench-seed', now(), $6::jsonb)",
            rows,
        )
        await conn.execute("ANALYZE intake.clients")
    finally:
        await conn.close()


def cpu_seconds(processes: list[psutil.Process]) -> dict[int, float]:
    seconds = {}
    for process in processes:
        try:
            times = process.cpu_times()
            seconds[process.pid] = times.user + times.system
        except psutil.Error:
            pass
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--count", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--preload", type=int, default=0, help="clients the agency holds before the run")
    args = parser.parse_args()
    total = args.count or (600 if args.quick else 4000)
    seconds = args.seconds or (15.0 if args.quick else 60.0)

    root = Path(tempfile.mkdtemp(prefix="passage-bench-intake-"))
    postgres = EmbeddedPostgres(root / "pg", durable=True)
    nats = EmbeddedNats(root / "nats")
    proc: subprocess.Popen[bytes] | None = None
    try:
        postgres.start()
        nats.start()
        database_url = postgres.ensure_database("passage_bench")
        component = load_component("intake")
        upgrade(schema=component.schema, migrations=component.migrations, database_url=database_url)
        if args.preload:
            asyncio.run(preload(database_url, args.preload))
        private, public = ensure_dev_keys(root / "keys")
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PASSAGE_")}
        env.update(
            PASSAGE_ENV="dev",
            PASSAGE_DATABASE_URL=database_url,
            PASSAGE_NATS_URL=nats.url,
            PASSAGE_JWT_PUBLIC_KEY_FILE=str(public),
            PASSAGE_JWT_ISSUER=DEV_ISSUER,
            PASSAGE_JWT_AUDIENCE=DEV_AUDIENCE,
            PASSAGE_LOG_LEVEL="WARNING",
            PASSAGE_DATABASE_POOL_SIZE="20",
        )
        log_path = root / "intake.log"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "passage", "serve", "intake", "--port", str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + 120
        while not port_open(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                print(tail(log_path), file=sys.stderr)
                return 1
            time.sleep(0.2)
        token = mint_token(private, agency="bench-agency", roles=("case_worker",), sub="bench-worker")
        base = f"http://127.0.0.1:{port}"
        asyncio.run(load(base, token, min(100, total), 10))  # warm-up (pools, plans, JIT caches)
        server, database = psutil.Process(proc.pid), psutil.Process(postgres.pid)
        before = cpu_seconds([server]), cpu_seconds(database.children(recursive=True))
        latencies, errors, elapsed, flagged = asyncio.run(load(base, token, total, seconds))
        after = cpu_seconds([server]), cpu_seconds(database.children(recursive=True))
        done = len(latencies)
        server_cpu, database_cpu = (
            sum(seconds - was.get(pid, 0.0) for pid, seconds in now.items())
            for was, now in zip(before, after, strict=True)
        )
        print(
            f"intake registration, concurrency {CONCURRENCY}, {done} requests in {elapsed:.1f} s"
            f" (agency held {args.preload} clients before)"
        )
        print(f"  throughput   {done / elapsed:8.1f} clients/s   errors {errors}")
        print(
            f"  latency ms   p50 {percentile(latencies, 50):.1f}   p95 {percentile(latencies, 95):.1f}   "
            f"p99 {percentile(latencies, 99):.1f}   max {max(latencies):.1f}   "
            f"mean {statistics.fmean(latencies):.1f}"
        )
        print(
            f"  cpu ms/req   intake {server_cpu * 1000 / done:.2f}"
            f"   postgres {database_cpu * 1000 / done:.2f}"
            f"   (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
        )
        print(
            f"  duplicate warnings returned on {flagged} of {done} registrations (similar names on purpose)"
        )
        return 0 if errors == 0 else 1
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        nats.stop()
        postgres.stop()


if __name__ == "__main__":
    raise SystemExit(main())
