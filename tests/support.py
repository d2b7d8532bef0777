"""Helpers the tests share: running components in-process, waiting for effects, free ports."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import httpx
import uvicorn
from fastapi import FastAPI

from passage.cli.embedded import free_port_block
from passage.component import load_component
from passage.settings import Settings
from passage.web import build_app

T = TypeVar("T")


@contextlib.asynccontextmanager
async def running(name: str, settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """A component with its real lifespan (database, NATS, relay, consumers), called in-process."""
    app = build_app(load_component(name), settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{name}") as client:
            yield app, client


@contextlib.asynccontextmanager
async def serving(name: str, settings: Settings) -> AsyncIterator[str]:
    """A component answering real HTTP on a free loopback port, in this event loop; yields its URL.

    For a component another one calls over HTTP (referrals calling intake, the gateway calling both).
    """
    port = free_port_block(1)
    app = build_app(load_component(name), settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, timeout: float = 15.0, interval: float = 0.05
) -> T:
    """Wait until `probe` returns something truthy; fail with a clear message otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


def component_env(settings: Settings, **overrides: str) -> dict[str, str]:
    """The environment a component process needs to run against the test servers."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("PASSAGE_")}
    env.update(
        PASSAGE_ENV="dev",
        PASSAGE_DATABASE_URL=settings.database_url,
        PASSAGE_NATS_URL=settings.nats_url,
        PASSAGE_JWT_PUBLIC_KEY_FILE=str(settings.jwt_public_key_file),
        PASSAGE_JWT_ISSUER=settings.jwt_issuer,
        PASSAGE_JWT_AUDIENCE=settings.jwt_audience,
        PASSAGE_CONSUMER_ACK_WAIT_SECONDS=str(settings.consumer_ack_wait_seconds),
        PASSAGE_OUTBOX_POLL_SECONDS=str(settings.outbox_poll_seconds),
        PASSAGE_LOG_JSON="false",
    )
    if settings.jwt_private_key_file:
        env["PASSAGE_JWT_PRIVATE_KEY_FILE"] = str(settings.jwt_private_key_file)
    env.update(overrides)
    return env


def start_component_process(name: str, env: dict[str, str], log_path: str) -> subprocess.Popen[bytes]:
    return start_component_process_on_port(name, env, log_path)[0]


def start_component_process_on_port(
    name: str, env: dict[str, str], log_path: str
) -> tuple[subprocess.Popen[bytes], int]:
    import sys

    port = free_port_block(1)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "passage", "serve", name, "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return proc, port
