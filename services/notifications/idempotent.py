"""`Idempotency-Key` on the POSTs that create or change something (passage.idempotency).

The same key with the same body answers with the first response again (nothing is created, sent
or rotated twice); with another body it is refused (422). Answers that carry a webhook secret are
kept with the secret sealed (like the endpoint's own copy), and opened again when replayed: the
idempotency table never holds a secret in clear.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from passage.auth import AuthSubject
from passage.idempotency import Idempotency
from services.notifications.models import SCHEMA
from services.notifications.signing import SecretBox

idempotency = Idempotency(SCHEMA)
_SEALED = "sealed:"


async def respond(
    session: AsyncSession,
    request: Request,
    subject: AuthSubject,
    key: str | None,
    action: Callable[[], Awaitable[BaseModel]],
    *,
    status_code: int = 200,
) -> JSONResponse:
    return await idempotency.respond(session, request, subject, key, action, status_code=status_code)


async def respond_with_secret(
    session: AsyncSession,
    request: Request,
    subject: AuthSubject,
    key: str | None,
    action: Callable[[], Awaitable[BaseModel]],
    *,
    box: SecretBox,
    status_code: int = 200,
) -> JSONResponse:
    """Like `respond`, for an answer with a `secret` field that must not be stored in clear."""
    if key is None:
        return JSONResponse((await action()).model_dump(mode="json"), status_code=status_code)

    async def sealed() -> dict[str, Any]:
        body = (await action()).model_dump(mode="json")
        body["secret"] = _SEALED + box.seal(body["secret"])
        return body

    kept = await idempotency.respond(session, request, subject, key, sealed, status_code=status_code)
    body = json.loads(bytes(kept.body))
    body["secret"] = box.open(str(body["secret"]).removeprefix(_SEALED))
    headers = {k: v for k, v in kept.headers.items() if k.lower() not in ("content-length", "content-type")}
    return JSONResponse(body, status_code=kept.status_code, headers=headers)
