"""Webhook fan-out benchmark: events -> notifications -> signed webhooks to local receivers.

Starts an embedded PostgreSQL and nats-server in a temporary folder, migrates notifications, runs
the service in-process with its real lifespan (consumers, outbox relay, delivery worker), registers
E webhook endpoints, each on its own local receiver server (partners are separate origins), and
measures two phases:

- burst: N referral events published at once; fan-out throughput = N x E deliveries over the time
  from the first event to the last delivery (the latency here includes the backlog);
- paced: M events at R events/s, below capacity; latency from each event's CloudEvent time to the
  receiver getting each delivery (p50/p99), split into event -> delivery row planned (consumer)
  and planned -> received (delivery worker).

The receivers run in the same process (their CPU counts against Passage). Loopback only; bounded
in count and time. `--quick` for a short run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from passage.bus.envelope import CloudEvent
from passage.bus.nats import subject
from passage.cli.embedded import EmbeddedNats, EmbeddedPostgres, free_port_block
from passage.component import load_component
from passage.contracts.referrals import ReferralAccepted
from passage.devkeys import DEV_AUDIENCE, DEV_ISSUER, ensure_dev_keys, mint_token
from passage.migrations import upgrade_async
from passage.settings import Settings
from passage.web import build_app

AGENCY = "bench-agency"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


async def publish(js: Any, count: int, rate: float | None) -> dict[str, float]:
    """Publish `count` referral events: all at once (rate None) or paced at `rate` per second."""
    times: dict[str, float] = {}

    async def one() -> None:
        data = ReferralAccepted(
            referral_id=uuid.uuid4(),
            client_id=uuid.uuid4(),
            sending_agency_id=AGENCY,
            receiving_agency_id="bench-other",
            service_id=None,
            status="accepted",
            actor="bench",
            occurred_at=datetime.now(UTC),
        )
        event = CloudEvent.wrap(data, source="/passage/bench")
        times[str(event.id)] = event.time.timestamp()
        await js.publish(subject(event.type), event.data, headers=event.headers())

    if rate is None:
        for start in range(0, count, 50):
            await asyncio.gather(*(one() for _ in range(min(50, count - start))))
        return times
    begin = time.monotonic()
    pending = []
    for i in range(count):
        await asyncio.sleep(max(0.0, begin + i / rate - time.monotonic()))
        pending.append(asyncio.create_task(one()))
    await asyncio.gather(*pending)
    return times


async def delivery_rows(app: Any) -> list[Any]:
    from sqlalchemy import text

    async with app.state.db.engine.connect() as conn:
        query = "SELECT message->>'msg_id', source_event_id, created_at FROM notifications.deliveries"
        return list((await conn.execute(text(query))).all())


def report(
    phase: str,
    count: int,
    rate: float | None,
    expected: int,
    arrivals: dict[str, float],
    times: dict[str, float],
    rows: list[Any],
    elapsed: float,
) -> None:
    mine = [(m, str(ev), c.timestamp()) for m, ev, c in rows if str(ev) in times]
    latencies = [(arrivals[m] - times[ev]) * 1000 for m, ev, _ in mine if m in arrivals]
    # Where the time goes: event -> delivery row planned (consumer), row -> received (worker).
    planned = [(c - times[ev]) * 1000 for _, ev, c in mine]
    sent = [(arrivals[m] - c) * 1000 for m, _, c in mine if m in arrivals]
    how = "all at once" if rate is None else f"paced at {rate:g} events/s"
    print(f"  {phase}: {count} events ({how}) = {expected} deliveries")
    throughput = len(arrivals) / elapsed
    print(f"    received {len(arrivals)}/{expected} in {elapsed:.2f} s: {throughput:8.1f} deliveries/s")
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    print(
        f"    event -> delivery: p50 {p50:7.1f} ms, p99 {p99:7.1f} ms, "
        f"max {max(latencies, default=float('nan')):7.1f} ms, mean "
        f"{statistics.fmean(latencies) if latencies else float('nan'):.1f} ms"
    )
    print(
        f"      event -> planned p50 {percentile(planned, 50):7.1f} ms, "
        f"p99 {percentile(planned, 99):7.1f} ms; "
        f"planned -> received p50 {percentile(sent, 50):7.1f} ms, p99 {percentile(sent, 99):7.1f} ms"
    )


async def main(events: int, endpoints: int, paced_events: int, paced_rate: float, wait_seconds: float) -> int:
    root = Path(tempfile.mkdtemp(prefix="passage-bench-notifications-"))
    postgres = EmbeddedPostgres(root / "pg", durable=False)
    nats_server = EmbeddedNats(root / "nats")
    postgres.start()
    nats_server.start()
    arrivals: dict[str, float] = {}
    try:
        url = postgres.url("postgres")
        component = load_component("notifications")
        await upgrade_async(schema=component.schema, migrations=component.migrations, database_url=url)
        private_key, public_key = ensure_dev_keys(root / "keys")
        settings = Settings(
            env="dev",
            database_url=url,
            nats_url=nats_server.url,
            jwt_public_key_file=public_key,
            jwt_private_key_file=private_key,
            jwt_issuer=DEV_ISSUER,
            jwt_audience=DEV_AUDIENCE,
            outbox_poll_seconds=0.2,
            log_level="WARNING",
            log_json=False,
        )
        os.environ.setdefault("PASSAGE_NOTIFICATIONS_POLL_SECONDS", "0.2")

        async def receive(request: Request) -> Response:
            await request.body()
            arrivals[request.headers["webhook-id"]] = time.time()
            return Response(status_code=204)

        # One receiver per endpoint, each on its own port: partners are separate origins, and
        # the sender keeps one small keep-alive pool and lane per origin.
        ports = [free_port_block(1) for _ in range(endpoints)]
        receiver_app = Starlette(routes=[Route("/{p:path}", receive, methods=["POST"])])
        receivers = [
            uvicorn.Server(
                uvicorn.Config(receiver_app, host="127.0.0.1", port=p, log_level="warning", lifespan="off")
            )
            for p in ports
        ]
        receiving = [asyncio.create_task(r.serve()) for r in receivers]
        app = build_app(component, settings)
        async with app.router.lifespan_context(app):
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://notifications"
            )
            token = mint_token(private_key, agency=AGENCY, roles=["agency_admin"])
            for i in range(endpoints):
                r = await client.post(
                    "/v1/webhooks",
                    json={
                        "url": f"http://127.0.0.1:{ports[i]}/hook/{i}",
                        "event_types": ["referrals.referral.accepted"],
                    },
                    headers={"Authorization": f"Bearer {token}"},
                )
                r.raise_for_status()
            import nats

            nc = await nats.connect(settings.nats_url)
            js = nc.jetstream()
            results = []
            for phase, count, rate in (("burst", events, None), ("paced", paced_events, paced_rate)):
                if count <= 0:
                    continue
                arrivals.clear()
                times = await publish(js, count, rate)
                started = min(times.values())
                expected = count * endpoints
                deadline = time.time() + wait_seconds
                while len(arrivals) < expected and time.time() < deadline:  # noqa: ASYNC110 - a counter
                    await asyncio.sleep(0.05)
                finished = max(arrivals.values()) if arrivals else time.time()
                rows = await delivery_rows(app)
                results.append(
                    (phase, count, rate, expected, dict(arrivals), times, rows, finished - started)
                )
            await nc.close()
            await client.aclose()
        for server in receivers:
            server.should_exit = True
        await asyncio.gather(*receiving)
        ok = True
        print(f"Webhook fan-out to {endpoints} endpoints (one local receiver server each)")
        for phase, count, rate, expected, got, times, rows, elapsed in results:
            report(phase, count, rate, expected, got, times, rows, elapsed)
            ok = ok and len(got) == expected
        return 0 if ok else 1
    finally:
        nats_server.stop()
        postgres.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--events", type=int, default=None, help="burst: events published at once")
    parser.add_argument("--endpoints", type=int, default=None)
    parser.add_argument("--paced-events", type=int, default=None, help="paced phase: events (0 skips it)")
    parser.add_argument("--rate", type=float, default=None, help="paced phase: events per second")
    args = parser.parse_args()
    n_events = args.events if args.events is not None else (40 if args.quick else 400)
    n_endpoints = args.endpoints or (5 if args.quick else 10)
    n_paced = args.paced_events if args.paced_events is not None else (60 if args.quick else 300)
    rate = args.rate or (20.0 if args.quick else 30.0)
    sys.exit(
        asyncio.run(
            main(
                min(n_events, 5000),
                min(n_endpoints, 50),
                min(n_paced, 5000),
                min(rate, 500.0),
                wait_seconds=60 if args.quick else 180,
            )
        )
    )
