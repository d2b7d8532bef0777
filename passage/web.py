"""The app factory every component runs under: lifespan (database, NATS, relay, consumers),
request ids, problem+json errors, /health, /ready and /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from passage import faults, metrics
from passage.auth import TokenVerifier
from passage.bus import nats as bus_nats
from passage.bus.consumer import EventConsumer
from passage.bus.relay import OutboxRelay
from passage.component import Component
from passage.db import Database
from passage.errors import (
    install_error_handlers,
    problem_body,
    problem_response,
    unexpected_error_response,
)
from passage.settings import Settings
from passage.timers import TimerWorker

log = structlog.get_logger(__name__)


class RequestContextMiddleware:
    """Binds a request id to the logs, echoes it back, and counts and times the request."""

    def __init__(self, app: ASGIApp, component: str) -> None:
        self.app = app
        self.component = component

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ""
        for key, value in scope.get("headers", ()):
            if key == b"x-request-id":
                request_id = value.decode("latin-1")[:128]
                break
        request_id = request_id or uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(component=self.component, request_id=request_id)
        status = 500
        status_sent = False
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status, status_sent
            if message["type"] == "http.response.start":
                status, status_sent = message["status"], True
                message.setdefault("headers", [])
                message["headers"].append((b"x-request-id", request_id.encode("latin-1")))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # The one place unexpected exceptions are answered: inside this middleware, so that
            # the 503 or 500 carries the request id its detail refers to.
            if status_sent:
                raise
            await unexpected_error_response(exc, scope.get("path", ""))(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            metrics.HTTP_REQUESTS.labels(self.component, method, template, str(status)).inc()
            metrics.HTTP_LATENCY.labels(self.component, method, template).observe(elapsed)
            if template not in ("/health", "/metrics"):
                log.info(
                    "http_request", method=method, route=template, status=status, ms=round(elapsed * 1000, 2)
                )


def build_app(component: Component, settings: Settings) -> FastAPI:
    faults.arm(settings.faults)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = ComponentRuntime(component, settings)
        await runtime.start(app)
        try:
            if component.lifespan is not None:
                async with component.lifespan(app, settings):
                    yield
            else:
                yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title=f"Passage {component.title}",
        description=component.description,
        version="1.0.0",
        lifespan=lifespan,
        openapi_tags=list(component.openapi_tags) or None,
    )
    app.state.component = component
    app.state.settings = settings
    app.state.token_verifier = TokenVerifier(settings)
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware, component=component.name)
    _add_probes(app)
    for router in component.routers:
        app.include_router(router)
    if component.router_factory is not None:
        for router in component.router_factory(settings):
            app.include_router(router)
    return app


class ComponentRuntime:
    """Owns the long-lived resources of one running component."""

    def __init__(self, component: Component, settings: Settings) -> None:
        self.component = component
        self.settings = settings
        self.tasks: list[asyncio.Task[None]] = []
        self.relay: OutboxRelay | None = None
        self.consumers: list[EventConsumer] = []
        self.timer_worker: TimerWorker | None = None

    async def start(self, app: FastAPI) -> None:
        c = self.component
        db = Database(self.settings, application_name=f"passage-{c.name}")
        nc = await bus_nats.connect(self.settings, name=f"passage-{c.name}")
        js = nc.jetstream()
        app.state.db, app.state.nats, app.state.js = db, nc, js
        self.db, self.nc = db, nc
        if c.publishes:
            await bus_nats.ensure_stream(js, c.name, self.settings)
            self.relay = OutboxRelay(component=c.name, schema=c.schema, db=db, js=js, settings=self.settings)
            self.tasks.append(asyncio.create_task(self.relay.run(), name=f"{c.name}-outbox-relay"))
        for subscription in c.subscriptions:
            consumer = EventConsumer(
                component=c.name,
                subscription=subscription,
                db=db,
                js=js,
                settings=self.settings,
                schema=c.schema,
            )
            await consumer.start()
            self.consumers.append(consumer)
            self.tasks.append(
                asyncio.create_task(consumer.run(), name=f"{c.name}-consumer-{consumer.stream}")
            )
        if c.timers:
            self.timer_worker = TimerWorker(
                component=c.name, schema=c.schema, handlers=c.timers, db=db, settings=self.settings
            )
            self.tasks.append(asyncio.create_task(self.timer_worker.run(), name=f"{c.name}-timers"))
        log.info(
            "component_started",
            consumers=[x.stream for x in self.consumers],
            relay=c.publishes,
            timers=sorted(c.timers),
        )

    async def stop(self) -> None:
        started = time.perf_counter()
        # The server has stopped taking requests and finished the in-flight ones; now let the
        # relay finish its batch and the consumers their message, then drain NATS.
        for consumer in self.consumers:
            consumer.stop()
        if self.relay is not None:
            self.relay.stop()
        if self.timer_worker is not None:
            self.timer_worker.stop()
        if self.tasks:
            _, pending = await asyncio.wait(
                self.tasks, timeout=max(self.settings.graceful_shutdown_seconds, 3)
            )
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self.relay is not None:
            await self.relay.close()
        for consumer in self.consumers:
            await consumer.close()
        try:
            await asyncio.wait_for(self.nc.drain(), timeout=5)
        except Exception as exc:
            log.warning("nats_drain_incomplete", error=str(exc) or type(exc).__name__)
            with contextlib.suppress(Exception):
                await self.nc.close()
        await self.db.dispose()
        log.info("component_stopped", seconds=round(time.perf_counter() - started, 3))


def _add_probes(app: FastAPI) -> None:
    @app.get("/health", tags=["operations"], summary="Liveness: the process answers")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/ready",
        tags=["operations"],
        summary="Readiness: the database and NATS are reachable",
        responses={503: {"description": "A dependency is not reachable"}},
    )
    async def ready(request: Request) -> Response:
        checks: dict[str, Any] = {}
        try:
            await asyncio.wait_for(request.app.state.db.ping(), timeout=2)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
        checks["nats"] = "ok" if request.app.state.nats.is_connected else "unreachable"
        if all(v == "ok" for v in checks.values()):
            return JSONResponse({"status": "ready", "checks": checks})
        body = problem_body(
            status=503,
            slug="not-ready",
            title="Not ready",
            detail="A dependency is not reachable",
            checks=checks,
        )
        return problem_response(body)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
