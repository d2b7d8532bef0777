"""Scoring benchmark: the RSS calculator over HTTP, and the event-to-stored-score latency.

Starts an embedded PostgreSQL and NATS on free loopback ports, migrates scoring, runs
`passage serve scoring` as a real process, then:

1. `POST /v1/rss/score` with random complete answer sets from C concurrent clients for N requests:
   throughput (requests/s) and latency p50/p95/p99;
2. publishes K `intake.assessment.submitted` (kind rss) events on the INTAKE stream and measures, per
   event, `scores.created_at - CloudEvent time` (broker, consumer, scoring and the commit).

`python bench/scoring.py --quick` for a short run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import nats

from passage.bus import CloudEvent
from passage.bus.nats import ensure_stream, subject
from passage.cli.embedded import EmbeddedNats, EmbeddedPostgres, free_port_block
from passage.component import load_component
from passage.contracts import rss
from passage.contracts.intake import AssessmentSubmitted
from passage.db import asyncpg_dsn
from passage.devkeys import DEV_AUDIENCE, DEV_ISSUER, ensure_dev_keys, mint_token
from passage.migrations import upgrade
from passage.settings import Settings

TARGET_P99_MS = 50.0


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def random_answers(rng: random.Random) -> dict[str, str]:
    answers = {
        key: rng.choice(sorted(indicator.option_codes))
        for key, indicator in rss.INDICATORS.items()
        if key != rss.REMIGRATION_REASON
    }
    if answers[rss.NEED_TO_REMIGRATE] == "yes":
        answers[rss.REMIGRATION_REASON] = rng.choice(["wish", "need", "dont_know"])
    return answers


def stats_line(name: str, ms: Sequence[float]) -> str:
    return (
        f"  {name}: n={len(ms)} p50={percentile(ms, 50):.2f} ms p95={percentile(ms, 95):.2f} ms "
        f"p99={percentile(ms, 99):.2f} ms max={max(ms):.2f} ms mean={statistics.fmean(ms):.2f} ms"
    )


async def score_load(
    base: str, token: str, requests: int, concurrency: int
) -> tuple[list[float], float, int]:
    rng = random.Random(7)
    bodies = [{"answers": random_answers(rng)} for _ in range(requests)]
    latencies: list[float] = []
    failures = 0
    queue: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, limits=limits
    ) as http:

        async def worker() -> None:
            nonlocal failures
            while not queue.empty():
                body = queue.get_nowait()
                started = time.perf_counter()
                response = await http.post("/v1/rss/score", json=body)
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    failures += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, elapsed, failures


async def event_latency(settings: Settings, count: int, rate: float) -> list[float]:
    nc = await nats.connect(settings.nats_url)
    js = nc.jetstream()
    await ensure_stream(js, "intake", settings)
    rng = random.Random(11)
    sent: dict[uuid.UUID, datetime] = {}
    for _ in range(count):
        data = AssessmentSubmitted(
            assessment_id=uuid.uuid4(),
            client_id=uuid.uuid4(),
            agency_id="bench-agency",
            kind="rss",
            instrument_version=rss.INSTRUMENT_VERSION,
            submitted_by="bench",
            submitted_at=datetime.now(UTC),
            answers=random_answers(rng),
        )
        event = CloudEvent.wrap(data, source="/passage/bench")
        await js.publish(subject(event.type, settings.nats_namespace), event.data, headers=event.headers())
        sent[data.assessment_id] = event.time
        await asyncio.sleep(1 / rate)
    await nc.close()
    conn = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rows = await conn.fetch(
                "SELECT assessment_id, created_at FROM scoring.scores WHERE assessment_id = ANY($1::uuid[])",
                list(sent),
            )
            if len(rows) == len(sent):
                return [(r["created_at"] - sent[r["assessment_id"]]).total_seconds() * 1000 for r in rows]
            await asyncio.sleep(0.2)
        raise SystemExit(f"only {len(rows)}/{len(sent)} scores stored within 60 s")
    finally:
        await conn.close()


def wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"scoring exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("scoring did not become ready in 60 s")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--event-rate", type=float, default=50.0, help="assessment events per second")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.events = 800, 60
    with tempfile.TemporaryDirectory(prefix="passage-bench-scoring-") as tmp:
        root = Path(tmp)
        postgres, broker = EmbeddedPostgres(root / "pg", durable=False), EmbeddedNats(root / "nats")
        postgres.start()
        broker.start()
        proc = None
        try:
            database_url = postgres.ensure_database("bench")
            component = load_component("scoring")
            upgrade(schema=component.schema, migrations=component.migrations, database_url=database_url)
            private, public = ensure_dev_keys(root / "keys")
            settings = Settings(
                env="dev",
                database_url=database_url,
                nats_url=broker.url,
                jwt_public_key_file=public,
                jwt_private_key_file=private,
                jwt_issuer=DEV_ISSUER,
                jwt_audience=DEV_AUDIENCE,
            )
            port = free_port_block(1)
            env = {k: v for k, v in os.environ.items() if not k.startswith("PASSAGE_")}
            env.update(
                PASSAGE_ENV="dev",
                PASSAGE_DATABASE_URL=database_url,
                PASSAGE_NATS_URL=broker.url,
                PASSAGE_JWT_PUBLIC_KEY_FILE=str(public),
                PASSAGE_JWT_PRIVATE_KEY_FILE=str(private),
                PASSAGE_JWT_ISSUER=DEV_ISSUER,
                PASSAGE_JWT_AUDIENCE=DEV_AUDIENCE,
                PASSAGE_LOG_JSON="true",
                PASSAGE_LOG_LEVEL="WARNING",
            )
            log = root / "scoring.log"
            with log.open("ab") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "passage", "serve", "scoring", "--port", str(port)],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            base = f"http://127.0.0.1:{port}"
            wait_ready(base, proc, log)
            token = mint_token(private, agency="bench-agency", roles=["case_worker"], ttl_seconds=3600)
            print(f"POST /v1/rss/score: {args.requests} requests, {args.concurrency} concurrent", flush=True)
            latencies, elapsed, failures = asyncio.run(
                score_load(base, token, args.requests, args.concurrency)
            )
            p99 = percentile(latencies, 99)
            rate = len(latencies) / elapsed
            print(f"  throughput: {rate:.0f} requests/s over {elapsed:.2f} s; failures {failures}")
            print(stats_line("latency", latencies))
            print(f"  p99 / target {TARGET_P99_MS:.0f} ms = {p99 / TARGET_P99_MS:.2f}")
            print(
                f"Event to stored score: {args.events} rss assessments at {args.event_rate:.0f}/s", flush=True
            )
            stored = asyncio.run(event_latency(settings, args.events, args.event_rate))
            print(stats_line("event -> stored score", stored))
            return 1 if failures else 0
        finally:
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
            broker.stop()
            postgres.stop()


if __name__ == "__main__":
    raise SystemExit(main())
