"""The gateway with real services behind it over loopback HTTP (uvicorn on free ports, in-process)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from passage.settings import Settings
from tests.support import running, serving


@contextlib.asynccontextmanager
async def gateway_stack(
    settings: Settings, services: tuple[str, ...] = ("intake", "referrals")
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, dict[str, str]]]:
    async with contextlib.AsyncExitStack() as stack:
        urls: dict[str, str] = {}
        for name in services:  # each service learns the URLs of those started before it (intake first)
            known = settings.model_copy(update={f"{n}_url": u for n, u in urls.items()})
            urls[name] = await stack.enter_async_context(serving(name, known))
        gw_settings = settings.model_copy(update={f"{n}_url": u for n, u in urls.items()})
        app, client = await stack.enter_async_context(running("gateway", gw_settings))
        yield app, client, urls
