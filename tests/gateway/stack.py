"""The gateway with real services behind it over loopback HTTP (uvicorn on free ports, in-process)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import uvicorn
from fastapi import FastAPI

from passage.cli.embedded import free_port_block
from passage.component import load_component
from passage.settings import Settings
from passage.web import build_app
from tests.support import running


@contextlib.asynccontextmanager
async def serve(name: str, settings: Settings) -> AsyncIterator[str]:
    port = free_port_block(1)
    app = build_app(load_component(name), settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
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


@contextlib.asynccontextmanager
async def gateway_stack(
    settings: Settings, services: tuple[str, ...] = ("intake", "referrals")
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, dict[str, str]]]:
    async with contextlib.AsyncExitStack() as stack:
        urls: dict[str, str] = {}
        for name in services:  # each service learns the URLs of those started before it (intake first)
            known = settings.model_copy(update={f"{n}_url": u for n, u in urls.items()})
            urls[name] = await stack.enter_async_context(serve(name, known))
        gw_settings = settings.model_copy(update={f"{n}_url": u for n, u in urls.items()})
        app, client = await stack.enter_async_context(running("gateway", gw_settings))
        yield app, client, urls
