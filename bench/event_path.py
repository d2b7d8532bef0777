"""Event-path benchmark: registration on intake -> outbox -> relay -> JetStream -> notifications.

Starts its own `passage dev` on a fresh data folder and a free block of five loopback ports,
then:

1. steady load: POST /v1/clients at a fixed rate for a fixed time (paced, bounded in flight);
2. checks every registered client got its in-app notification and measures, per client,
   `in_app_notifications.created_at - source_event_time` (the CloudEvent time, set inside the
   registration transaction), with a breakdown by stage from the outbox and inbox rows;
3. relay and consumer throughput: one transaction inserts a burst of outbox rows, then times
   until the running relay has published them all, and until notifications recorded them all.

Run `python bench/event_path.py --quick` for a smoke run; see bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import asyncpg
import httpx
import psutil
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from passage.bus.envelope import CloudEvent
from passage.bus.tables import bus_tables
from passage.cli.embedded import die_with_parent, free_port_block, tail
from passage.contracts.intake import ClientRegistered
from passage.devkeys import mint_token

TARGET_P99_MS = 100.0
STARTUP_TIMEOUT_S = 240.0
STOP_TIMEOUT_S = 90.0
BURST_AGENCY = "bench-burst"
BURST_SOURCE = "/passage/bench"
# httpcore's pool scans every pooled connection (quadratically, see encode/httpcore#1035) on each
# request and response: with 64 idle keep-alive connections the load generator itself burns most
# of a core. Few keep-alive connections keep the client cheap; more can still open when needed.
KEEPALIVE_CONNECTIONS = 8

GIVEN_NAMES = ("Amina", "Yusuf", "Mariam", "Omar", "Leila", "Tariq", "Nadia", "Samir", "Hana", "Karim")
FAMILY_NAMES = ("Diallo", "Haddad", "Nguyen", "Okafor", "Rahimi", "Kovacs", "Mensah", "Petrov", "Yilmaz")


# --------------------------------------------------------------------------------------------
# statistics


def percentile(values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (as numpy's default); p in [0, 100]."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    if p >= 100:
        return ordered[-1]
    cuts = statistics.quantiles(ordered, n=1000, method="inclusive")  # 999 cut points
    index = round(p * 10) - 1
    return ordered[0] if index < 0 else cuts[index]


def summary(values: Sequence[float]) -> dict[str, float | int]:
    return {
        "count": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values) if values else float("nan"),
        "mean": statistics.fmean(values) if values else float("nan"),
    }


# --------------------------------------------------------------------------------------------
# running Passage


@dataclass
class Passage:
    """One `passage dev` child process and what its dev.json says."""

    root: Path
    port_base: int
    proc: subprocess.Popen[bytes] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def output(self) -> Path:
        return self.root / "passage-dev.out"

    @property
    def intake_url(self) -> str:
        return str(self.info["services"]["intake"])

    @property
    def gateway_base(self) -> str:
        return str(self.info["gateway"]).removesuffix("/graphql")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def dsn(self) -> str:
        return str(self.info["database_url"]).replace("postgresql+asyncpg://", "postgresql://", 1)

    def start(self) -> None:
        argv = [
            sys.executable,
            "-m",
            "passage",
            "dev",
            "--data-dir",
            str(self.data_dir),
            "--port-base",
            str(self.port_base),
        ]
        with self.output.open("wb") as out:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # we stop it ourselves, with SIGTERM, in order
                preexec_fn=die_with_parent(signal.SIGTERM),  # dies with us, even on SIGKILL
            )

    def wait_ready(self) -> None:
        assert self.proc is not None
        dev_json = self.data_dir / "dev.json"
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not dev_json.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"passage dev exited with {self.proc.returncode}:\n{tail(self.output)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"passage dev not up in {STARTUP_TIMEOUT_S:.0f}s:\n{tail(self.output)}")
            time.sleep(0.2)
        self.info = json.loads(dev_json.read_text())
        with httpx.Client(timeout=2.0, trust_env=False) as http:
            for base in (self.gateway_base, self.intake_url):
                while True:
                    with contextlib.suppress(httpx.HTTPError):
                        if http.get(f"{base}/ready").status_code == 200:
                            break
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{base}/ready did not answer 200:\n{tail(self.output)}")
                    time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            print(f"passage dev did not stop in {STOP_TIMEOUT_S:.0f}s: killing it", file=sys.stderr)
            self.proc.kill()
            self.proc.wait(10)


# --------------------------------------------------------------------------------------------
# where the CPU goes


def _role(proc: psutil.Process, root_pid: int) -> str:
    if proc.pid == os.getpid():
        return "bench (load generator)"
    if proc.pid == root_pid:
        return "passage dev (supervisor)"
    try:
        cmdline = proc.cmdline()
        name = proc.name()
    except psutil.Error:
        return "other"
    if "serve" in cmdline and cmdline.index("serve") + 1 < len(cmdline):
        return cmdline[cmdline.index("serve") + 1]
    if name.startswith("postgres") or any("postgres" in part for part in cmdline[:1]):
        return "postgres"
    if "nats-server" in name:
        return "nats-server"
    return name


class CpuMeter:
    """CPU seconds used, per role, by this process and `passage dev`'s tree over a phase."""

    def __init__(self, root_pid: int) -> None:
        self._root_pid = root_pid
        self._before: dict[int, tuple[str, float]] = {}
        self._machine_before = 0.0
        self._started = 0.0

    def _sample(self) -> dict[int, tuple[str, float]]:
        procs = [psutil.Process(os.getpid())]
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(self._root_pid)
            procs += [root, *root.children(recursive=True)]
        out: dict[int, tuple[str, float]] = {}
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                out[proc.pid] = (_role(proc, self._root_pid), times.user + times.system)
        return out

    @staticmethod
    def _machine_busy() -> float:
        times = psutil.cpu_times()
        return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))

    def start(self) -> None:
        self._before = self._sample()
        self._machine_before = self._machine_busy()
        self._started = time.monotonic()

    def stop(self) -> dict[str, Any]:
        after = self._sample()
        wall = max(time.monotonic() - self._started, 1e-9)
        used: dict[str, float] = {}
        for pid, (role, cpu) in after.items():
            before = self._before.get(pid, (role, 0.0))[1]
            used[role] = used.get(role, 0.0) + max(cpu - before, 0.0)
        ours = sum(used.values())
        machine = self._machine_busy() - self._machine_before
        return {
            "wall_s": wall,
            "cpus": psutil.cpu_count() or 1,
            "cpu_s": dict(sorted(used.items(), key=lambda kv: -kv[1])),
            "ours_cpu_s": ours,
            "machine_busy_cpu_s": machine,
            "others_cpu_s": max(machine - ours, 0.0),
        }


def cpu_lines(cpu: dict[str, Any], per: int, unit: str) -> list[str]:
    wall = cpu["wall_s"]
    lines = [
        f"  CPU over {wall:.1f} s ({cpu['cpus']} cores): machine busy {cpu['machine_busy_cpu_s'] / wall:.2f} "
        f"cores, of which Passage+bench {cpu['ours_cpu_s'] / wall:.2f}, other processes "
        f"{cpu['others_cpu_s'] / wall:.2f}"
    ]
    for role, seconds in cpu["cpu_s"].items():
        if seconds / wall >= 0.005:
            share = f"{seconds / wall:5.2f} cores  {seconds * 1000 / max(per, 1):6.2f} ms CPU/{unit}"
            lines.append(f"    {role:<26} {share}")
    return lines


# --------------------------------------------------------------------------------------------
# steady load


@dataclass
class Sample:
    due: float  # when it was scheduled (loop time)
    sent: float  # when it was actually sent
    latency_ms: float  # send -> response read
    status: int  # 0: no response
    client_id: str | None = None
    error: str | None = None


@dataclass
class LoadResult:
    samples: list[Sample]
    started: float
    finished: float

    @property
    def ok(self) -> list[Sample]:
        return [s for s in self.samples if s.status == 201 and s.client_id]


def registration_body(rng: random.Random) -> dict[str, Any]:
    return {
        "given_name": rng.choice(GIVEN_NAMES),
        "family_name": rng.choice(FAMILY_NAMES),
        "birth_year": rng.randint(1940, 2015),
        "sex": rng.choice(("female", "male")),
    }


async def steady_load(
    *, intake_url: str, token: str, rate: float, duration: float, concurrency: int, seed: int
) -> LoadResult:
    total = max(1, int(rate * duration))
    rng = random.Random(seed)
    semaphore = asyncio.Semaphore(concurrency)
    loop = asyncio.get_running_loop()
    samples: list[Sample] = []
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=min(concurrency, KEEPALIVE_CONNECTIONS)
    )
    async with httpx.AsyncClient(
        base_url=intake_url, headers=headers, limits=limits, timeout=30.0, trust_env=False
    ) as http:

        async def register(due: float, body: dict[str, Any]) -> None:
            sent = loop.time()
            try:
                response = await http.post("/v1/clients", json=body)
                latency = (loop.time() - sent) * 1000
                client_id = response.json().get("id") if response.status_code == 201 else None
                error = None if response.status_code == 201 else response.text[:200]
                samples.append(Sample(due, sent, latency, response.status_code, client_id, error))
            except (httpx.HTTPError, ValueError) as exc:
                samples.append(Sample(due, sent, (loop.time() - sent) * 1000, 0, None, repr(exc)))
            finally:
                semaphore.release()

        # Warm the connection pool a little, outside the measurement.
        with contextlib.suppress(httpx.HTTPError):
            await http.get("/ready")
        tasks: set[asyncio.Task[None]] = set()
        started = loop.time() + 0.05
        for i in range(total):
            due = started + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await semaphore.acquire()  # bounded in flight: if full, we fall behind (and report it)
            task = asyncio.create_task(register(due, registration_body(rng)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        while tasks:
            await asyncio.gather(*list(tasks))
        finished = loop.time()
    return LoadResult(samples=samples, started=started, finished=finished)


# --------------------------------------------------------------------------------------------
# event path from the database


async def wait_for_notifications(
    conn: asyncpg.Connection, *, agency: str, resources: set[str], within_s: float
) -> tuple[set[str], float]:
    """Poll until every resource has its notification; returns (missing, seconds waited)."""
    started = time.monotonic()
    while True:
        rows = await conn.fetch(
            "SELECT resource FROM notifications.in_app_notifications WHERE recipient_agency = $1", agency
        )
        missing = resources - {r["resource"] for r in rows}
        waited = time.monotonic() - started
        if not missing or waited > within_s:
            return missing, waited
        await asyncio.sleep(0.1)


EVENT_PATH_SQL = """
SELECT
  EXTRACT(EPOCH FROM n.created_at - n.source_event_time) * 1000 AS total_ms,
  EXTRACT(EPOCH FROM o.published_at - n.source_event_time) * 1000 AS to_claim_ms,
  EXTRACT(EPOCH FROM i.processed_at - o.published_at) * 1000 AS claim_to_consume_ms,
  EXTRACT(EPOCH FROM n.created_at - i.processed_at) * 1000 AS handler_ms
FROM notifications.in_app_notifications n
LEFT JOIN intake.outbox o ON o.event_id = n.source_event_id
LEFT JOIN notifications.inbox i ON i.event_id = n.source_event_id AND i.consumer = 'notifications'
WHERE n.recipient_agency = $1
"""


async def event_path_latencies(conn: asyncpg.Connection, agency: str) -> dict[str, list[float]]:
    rows = await conn.fetch(EVENT_PATH_SQL, agency)
    columns = ("total_ms", "to_claim_ms", "claim_to_consume_ms", "handler_ms")
    return {c: [float(r[c]) for r in rows if r[c] is not None] for c in columns}


# --------------------------------------------------------------------------------------------
# relay and consumer throughput


@dataclass
class BurstResult:
    size: int
    insert_s: float
    relay_s: float | None
    relay_done: int
    consumer_s: float | None
    consumer_done: int
    cycle_ms: list[float] = field(default_factory=list)  # consumer: one event's tx start to the next's
    in_tx_ms: list[float] = field(default_factory=list)  # consumer: tx start to notification built

    def rate(self, seconds: float | None, done: int) -> float:
        return done / seconds if seconds else float("nan")


# The notifications consumer handles one event at a time: the gap between consecutive events'
# transaction starts is its whole cycle (fetch, transaction, commit, ack) for one event.
CONSUMER_CYCLE_SQL = """
WITH b AS (
  SELECT i.processed_at AS started, n.created_at AS recorded
  FROM notifications.in_app_notifications n
  JOIN notifications.inbox i ON i.event_id = n.source_event_id AND i.consumer = 'notifications'
  WHERE n.source_event_id = ANY($1::uuid[])
)
SELECT EXTRACT(EPOCH FROM started - lag(started) OVER (ORDER BY started)) * 1000 AS cycle_ms,
       EXTRACT(EPOCH FROM recorded - started) * 1000 AS in_tx_ms
FROM b
"""


async def burst(database_url: str, dsn: str, size: int, within_s: float) -> BurstResult:
    outbox = bus_tables("intake").outbox
    channel = bus_tables("intake").notify_channel
    rows: list[dict[str, Any]] = []
    for _ in range(size):
        client_id = uuid.uuid4()
        event = CloudEvent.wrap(
            ClientRegistered(client_id=client_id, agency_id=BURST_AGENCY, registered_by="bench"),
            source=BURST_SOURCE,
            subject=f"client/{client_id}",
        )
        rows.append(
            {
                "event_id": event.id,
                "event_type": event.type,
                "headers": event.headers(),
                "payload": event.data,
            }
        )
    event_ids = [r["event_id"] for r in rows]

    engine = create_async_engine(database_url, pool_size=1, max_overflow=0)
    try:
        insert_started = time.monotonic()
        async with engine.begin() as conn:
            seqs = (await conn.execute(outbox.insert().returning(outbox.c.seq), rows)).scalars().all()
            await conn.execute(text(f"NOTIFY {channel}"))
        committed = time.monotonic()
        committed_wall = datetime.now(UTC)
    finally:
        await engine.dispose()
    low, high = min(seqs), max(seqs)

    conn = await asyncpg.connect(dsn)
    try:
        relay_s: float | None = None
        consumer_s: float | None = None
        relay_done = consumer_done = 0
        deadline = committed + within_s
        while time.monotonic() < deadline and relay_s is None:
            left = await conn.fetchval(
                "SELECT count(*) FROM intake.outbox WHERE seq BETWEEN $1 AND $2 AND published_at IS NULL",
                low,
                high,
            )
            if left == 0:
                relay_s = time.monotonic() - committed
            else:
                await asyncio.sleep(0.02)
        relay_done = await conn.fetchval(
            "SELECT count(*) FROM intake.outbox "
            "WHERE event_id = ANY($1::uuid[]) AND published_at IS NOT NULL",
            event_ids,
        )
        while time.monotonic() < deadline:
            consumer_done = await conn.fetchval(
                "SELECT count(*) FROM notifications.in_app_notifications "
                "WHERE recipient_agency = $1 AND created_at >= $2",
                BURST_AGENCY,
                committed_wall,
            )
            if consumer_done >= size:
                break
            await asyncio.sleep(0.1)
        consumer_elapsed = time.monotonic() - committed
        # Exact count, and the end time from the rows themselves (not the poll's resolution).
        consumer_done, last = await conn.fetchrow(
            "SELECT count(*), max(created_at) FROM notifications.in_app_notifications "
            "WHERE source_event_id = ANY($1::uuid[])",
            event_ids,
        )
        if consumer_done >= size and last is not None:
            consumer_s = max((last - committed_wall).total_seconds(), 1e-6)
        elif consumer_done:
            consumer_s = consumer_elapsed  # incomplete: a rate over the time we waited
        if relay_s is None and relay_done:
            relay_s = time.monotonic() - committed
        cycles = await conn.fetch(CONSUMER_CYCLE_SQL, event_ids)
    finally:
        await conn.close()
    return BurstResult(
        size=size,
        insert_s=committed - insert_started,
        relay_s=relay_s,
        relay_done=relay_done,
        consumer_s=consumer_s,
        consumer_done=consumer_done,
        cycle_ms=[float(r["cycle_ms"]) for r in cycles if r["cycle_ms"] is not None],
        in_tx_ms=[float(r["in_tx_ms"]) for r in cycles if r["in_tx_ms"] is not None],
    )


# --------------------------------------------------------------------------------------------
# the report


def _ms(stats: dict[str, float | int], keys: Sequence[str] = ("p50", "p95", "p99", "max")) -> str:
    return "  ".join(f"{k} {float(stats[k]):8.1f}" for k in keys)


def report(
    args: argparse.Namespace,
    load: LoadResult,
    missing: set[str],
    waited: float,
    paths: dict[str, list[float]],
    result: BurstResult | None,
    cpu: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    statuses: dict[str, int] = {}
    for s in load.samples:
        statuses[str(s.status)] = statuses.get(str(s.status), 0) + 1
    ok = load.ok
    errors = sorted({f"{s.status}: {s.error}" for s in load.samples if s.status != 201})[:3]
    span = max(load.finished - load.started, 1e-9)
    send_span = max((max(s.sent for s in load.samples) - load.started), 1e-9) if load.samples else 1e-9
    http = summary([s.latency_ms for s in ok])
    lag = summary([(s.sent - s.due) * 1000 for s in load.samples])
    path = summary(paths.get("total_ms", []))
    ratio = float(path["p99"]) / TARGET_P99_MS
    figures: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "load": {
            "target_rate": args.rate,
            "duration_s": args.duration,
            "concurrency": args.concurrency,
            "sent": len(load.samples),
            "statuses": statuses,
            "achieved_send_rate": len(load.samples) / send_span,
            "achieved_completion_rate": len(ok) / span,
            "send_lag_ms": lag,
            "http_latency_ms": http,
        },
        "event_path_ms": path,
        "event_path_stages_ms": {k: summary(v) for k, v in paths.items() if k != "total_ms"},
        "missing_notifications": len(missing),
        "settle_wait_s": waited,
        "target_p99_ms": TARGET_P99_MS,
        "p99_over_target": ratio,
    }
    figures["cpu"] = cpu
    if result is not None:
        figures["burst"] = {
            "size": result.size,
            "insert_s": result.insert_s,
            "relay_s": result.relay_s,
            "relay_published": result.relay_done,
            "relay_events_per_s": result.rate(result.relay_s, result.relay_done),
            "consumer_s": result.consumer_s,
            "consumer_recorded": result.consumer_done,
            "consumer_events_per_s": result.rate(result.consumer_s, result.consumer_done),
            "consumer_cycle_ms": summary(result.cycle_ms),
            "consumer_in_tx_ms": summary(result.in_tx_ms),
        }

    out = [
        "",
        "=" * 78,
        f"Passage event path  ({os.cpu_count()} CPUs, shared with the whole stack: figures are noisy)",
        "=" * 78,
        f"Steady load: target {args.rate:g}/s for {args.duration:g} s, at most {args.concurrency} in flight",
        f"  sent {len(load.samples)}, statuses {statuses}; achieved "
        f"{figures['load']['achieved_send_rate']:.1f}/s sent, "
        f"{figures['load']['achieved_completion_rate']:.1f}/s completed (201)",
        f"  HTTP POST /v1/clients ms   {_ms(http)}",
        f"  send lag behind schedule   {_ms(lag, ('p50', 'p99', 'max'))}",
        *(f"  e.g. {e}" for e in errors),
        *(
            [
                f"  !! OVERLOADED: the target rate was not reached; with {args.concurrency} in flight the "
                "latencies above are mostly queueing (Little's law: in flight / rate)"
            ]
            if figures["load"]["achieved_send_rate"] < 0.95 * args.rate
            else []
        ),
        *cpu_lines(cpu["steady"], len(ok), "registration"),
        "",
        f"Event path: registration -> notification recorded ({path['count']} clients, "
        f"settled {waited:.1f} s after the load)",
        f"  latency ms                 {_ms(path)}",
        f"  target p99 < {TARGET_P99_MS:.0f} ms: p99/target = {ratio:.2f}  {'PASS' if ratio < 1 else 'FAIL'}",
        "  by stage (outbox.published_at = JetStream acked, inbox.processed_at = consumer tx start):",
    ]
    labels = {
        "to_claim_ms": "event -> published",
        "claim_to_consume_ms": "published -> consumer tx",
        "handler_ms": "consumer tx -> recorded",
    }
    for key, label in labels.items():
        if paths.get(key):
            out.append(f"    {label:<24} {_ms(summary(paths[key]))}")
    if missing:
        out += [
            "",
            f"!!! {len(missing)} REGISTERED CLIENTS HAVE NO NOTIFICATION after {waited:.0f} s !!!",
            *(f"    {m}" for m in sorted(missing)[:10]),
        ]
    if result is not None:
        b = figures["burst"]
        relay_line = (
            f"all {result.size} published in {result.relay_s:.2f} s"
            if result.relay_done >= result.size
            else f"INCOMPLETE: {result.relay_done}/{result.size} published"
        )
        cons_line = (
            f"all {result.size} recorded in {result.consumer_s:.2f} s"
            if result.consumer_done >= result.size
            else f"INCOMPLETE: {result.consumer_done}/{result.size} recorded in {args.burst_timeout:g} s"
        )
        out += [
            "",
            f"Burst: {result.size} outbox rows in one transaction + NOTIFY (insert {result.insert_s:.2f} s)",
            f"  relay:    {relay_line}: {b['relay_events_per_s']:8.0f} events/s",
            f"  consumer: {cons_line}: {b['consumer_events_per_s']:8.0f} events/s (notifications)",
            f"  consumer cycle per event ms {_ms(summary(result.cycle_ms))}",
            f"    of which tx start -> row built {_ms(summary(result.in_tx_ms), ('p50', 'p99'))}"
            " (the rest: fetch, commit, ack)",
            *cpu_lines(cpu["burst"], result.size, "event"),
        ]
    out.append("=" * 78)
    print("\n".join(out), flush=True)
    return figures


# --------------------------------------------------------------------------------------------
# main


async def bench(args: argparse.Namespace, passage: Passage) -> int:
    agency = f"bench-{uuid.uuid4().hex[:8]}"
    token = mint_token(
        passage.data_dir / "keys" / "dev-signing-key.pem",
        agency=agency,
        roles=["case_worker"],
        sub="bench-case-worker",
        ttl_seconds=3600,
    )
    print(
        f"Steady load: {args.rate:g}/s for {args.duration:g} s on {passage.intake_url} (agency {agency})...",
        flush=True,
    )
    meter = CpuMeter(passage.pid)
    meter.start()
    load = await steady_load(
        intake_url=passage.intake_url,
        token=token,
        rate=args.rate,
        duration=args.duration,
        concurrency=args.concurrency,
        seed=args.seed,
    )
    resources = {f"client/{s.client_id}" for s in load.ok}
    print(f"  {len(load.ok)}/{len(load.samples)} registered; waiting for their notifications...", flush=True)
    conn = await asyncpg.connect(passage.dsn)
    try:
        missing, waited = await wait_for_notifications(
            conn, agency=agency, resources=resources, within_s=args.settle_timeout
        )
        cpu = {"steady": meter.stop()}
        paths = await event_path_latencies(conn, agency)
    finally:
        await conn.close()

    result = None
    if args.burst > 0:
        print(f"Burst: {args.burst} outbox rows in one transaction...", flush=True)
        meter.start()
        result = await burst(str(passage.info["database_url"]), passage.dsn, args.burst, args.burst_timeout)
        cpu["burst"] = meter.stop()

    figures = report(args, load, missing, waited, paths, result, cpu)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"figures written to {args.json}")
    failed = bool(missing) or len(load.ok) != len(load.samples)
    if failed:
        print(
            "FAILED: "
            + ("missing notifications; " if missing else "")
            + ("registrations that did not answer 201" if len(load.ok) != len(load.samples) else ""),
            file=sys.stderr,
        )
    return 1 if failed else 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=None, help="registrations/s (default 200)")
    parser.add_argument("--duration", type=float, default=None, help="seconds of load (default 30)")
    parser.add_argument("--concurrency", type=int, default=64, help="max in flight (default 64)")
    parser.add_argument("--burst", type=int, default=None, help="outbox rows, relay test (default 20000)")
    parser.add_argument("--burst-timeout", type=float, default=300.0, help="max s for the burst to drain")
    parser.add_argument(
        "--settle-timeout",
        type=float,
        default=30.0,
        help="max seconds to wait for the steady run's notifications",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: rate 50, duration 5, burst 2000")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs) at the end")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    quick = {"rate": 50.0, "duration": 5.0, "burst": 2000}
    full = {"rate": 200.0, "duration": 30.0, "burst": 20000}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.rate <= 0 or args.duration <= 0 or args.concurrency < 1 or args.burst < 0:
        parser.error("--rate and --duration must be positive, --concurrency >= 1, --burst >= 0")
    if args.rate * args.duration > 100_000 or args.burst > 200_000:
        parser.error("keep it bounded: at most 100000 registrations and 200000 burst rows")
    return args


def _terminate(signum: int, _frame: object) -> NoReturn:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def running_passage(keep: bool) -> Iterator[Passage]:
    root = Path(tempfile.mkdtemp(prefix="passage-bench-"))
    root.chmod(0o755)  # the embedded PostgreSQL runs as its own user when we are root
    passage = Passage(root=root, port_base=free_port_block(5))
    try:
        print(
            f"Starting passage dev in {passage.data_dir} on ports {passage.port_base}-"
            f"{passage.port_base + 4}...",
            flush=True,
        )
        started = time.monotonic()
        passage.start()
        passage.wait_ready()
        print(f"  ready in {time.monotonic() - started:.1f} s", flush=True)
        yield passage
    except Exception:
        print(f"--- tail of {passage.output} ---\n{tail(passage.output)}", file=sys.stderr)
        raise
    finally:
        print("Stopping passage dev...", flush=True)
        passage.stop()
        if keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        with running_passage(args.keep) as passage:
            return asyncio.run(bench(args, passage))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
