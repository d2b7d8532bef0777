"""Real local HTTP servers the notifications tests send to: a webhook receiver and an SMS provider."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from passage.cli.embedded import free_port_block


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    status: int = 200


@dataclass
class Receiver:
    """Answers each path with the statuses queued for it (then 200), and records every request."""

    port: int = 0
    requests: list[Received] = field(default_factory=list)
    plans: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, path: str, *statuses: int | tuple[int, dict[str, str]]) -> None:
        self.plans[path] = [s if isinstance(s, tuple) else (s, {}) for s in statuses]

    def at(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        plan = self.plans.get(request.url.path) or []
        status, headers = plan.pop(0) if plan else (200, {})
        self.requests.append(
            Received(request.url.path, dict(request.headers), body, time.monotonic(), status)
        )
        return Response(status_code=status, headers=headers)


@contextlib.asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    receiver = Receiver(port=free_port_block(1))
    app = Starlette(routes=[Route("/{path:path}", receiver.handle, methods=["POST"])])
    config = uvicorn.Config(app, host="127.0.0.1", port=receiver.port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield receiver
    finally:
        server.should_exit = True
        await task
