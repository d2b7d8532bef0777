"""Composition root of the notifications service."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from fastapi import FastAPI

from passage.component import Component
from passage.service_auth import service_http
from passage.settings import Settings
from services.notifications import consumers, routes, routes_webhooks
from services.notifications.adapters import OriginClients
from services.notifications.dispatch import catalogue, notification_settings
from services.notifications.models import SCHEMA
from services.notifications.outcomes import OutcomeRecorder
from services.notifications.sending import Sender
from services.notifications.signing import SecretBox
from services.notifications.worker import DeliveryWorker, backoff_seconds


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    notification_settings.cache_clear()
    catalogue.cache_clear()
    ns = notification_settings()
    catalogue()  # load and validate the templates now: a bad template stops the start
    timeout = httpx.Timeout(ns.send_timeout_seconds, connect=min(5.0, ns.send_timeout_seconds))
    limits = httpx.Limits(max_connections=ns.concurrency, max_keepalive_connections=ns.concurrency)
    http = httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=False)
    intake = service_http(settings, "intake", caller="notifications")
    box = SecretBox(settings.secret_key.get_secret_value())
    webhook_clients = OriginClients(per_origin=ns.per_origin_concurrency, timeout=ns.send_timeout_seconds)
    sender = Sender(ns, box, http, intake, webhook_clients)
    recorder = OutcomeRecorder(ns, backoff_seconds)
    app.state.secret_box, app.state.delivery_sender, app.state.outcome_recorder = box, sender, recorder
    worker = DeliveryWorker(
        db=app.state.db, settings=settings, notification_settings=ns, sender=sender, recorder=recorder
    )
    app.state.delivery_worker = worker
    task = asyncio.create_task(worker.run(), name="notifications-deliveries")
    try:
        yield
    finally:
        worker.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, timeout=max(settings.graceful_shutdown_seconds, 3))
        await worker.close()
        await http.aclose()
        await webhook_clients.aclose()
        await intake.aclose()


component = Component(
    name="notifications",
    title="Notifications",
    description="What people and partner systems must hear about: in-app notices and a live feed, "
    "email, SMS and Standard Webhooks, with retries, dead letters and reminders.",
    schema=SCHEMA,
    migrations=Path(__file__).parent / "migrations",
    routers=[routes.router, routes_webhooks.router],
    subscriptions=consumers.subscriptions,
    timers=consumers.timer_handlers,
    lifespan=lifespan,
)
