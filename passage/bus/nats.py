"""Connecting to NATS and declaring the one stream each publishing component owns."""

from __future__ import annotations

import asyncio

import nats
import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError

from passage.settings import Settings

log = structlog.get_logger(__name__)


def stream_name(service: str, namespace: str = "") -> str:
    return f"{namespace.upper()}_{service.upper()}" if namespace else service.upper()


def subject(event_type: str, namespace: str = "") -> str:
    """The NATS subject of an event type: the type itself, under the namespace if there is one."""
    return f"{namespace}.{event_type}" if namespace else event_type


def stream_config(service: str, settings: Settings) -> StreamConfig:
    return StreamConfig(
        name=stream_name(service, settings.nats_namespace),
        subjects=[subject(f"{service}.>", settings.nats_namespace)],
        storage=StorageType.FILE,
        num_replicas=settings.stream_replicas,
        duplicate_window=float(settings.stream_duplicate_window_seconds),
        discard=DiscardPolicy.OLD,
    )


async def ensure_stream(js: JetStreamContext, service: str, settings: Settings) -> None:
    config = stream_config(service, settings)
    try:
        await js.add_stream(config)
    except BadRequestError:
        # It exists with other settings (replicas, window): bring it to ours.
        await js.update_stream(config)


async def connect(settings: Settings, *, name: str, attempts: int = 60) -> NATS:
    """Connect, waiting for the server while it starts; once connected, reconnect forever."""

    async def on_disconnect() -> None:
        log.warning("nats_disconnected")

    async def on_reconnect() -> None:
        log.info("nats_reconnected")

    async def on_error(exc: Exception) -> None:
        log.warning("nats_error", error=str(exc))

    for attempt in range(1, attempts + 1):
        try:
            return await nats.connect(
                servers=[settings.nats_url],
                name=name,
                connect_timeout=2,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                disconnected_cb=on_disconnect,
                reconnected_cb=on_reconnect,
                error_cb=on_error,
            )
        except Exception as exc:
            if attempt == attempts:
                raise
            log.info("nats_waiting", attempt=attempt, error=str(exc))
            await asyncio.sleep(0.5)
    raise AssertionError("unreachable")
