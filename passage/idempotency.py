"""`Idempotency-Key` on POST: a retried request gets the first answer, never a second record.

The rule, for every component that adopts it:
- the same key with the same body (same method and path) returns the first response again,
  with the header `Idempotent-Replayed: true`;
- the same key with a different body (or on another endpoint) is refused with 422;
- keys are scoped to the caller (agency + `sub`): two callers cannot collide, nor read each
  other's answers;
- only successful answers are kept. An error rolls the request's transaction back, key included,
  so a retry runs again.

How it is safe under concurrency: the key row is inserted first, in the request's own transaction.
A second request with the same key blocks on the unique index until the first commits (then it
replays) or rolls back (then it runs). Answer and change commit together, or neither does.

Each component keeps the keys in its own schema: `create_idempotency_table(bind, schema)` in a
migration, then `Idempotency(schema)` at module level.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel.ext.asyncio.session import AsyncSession

from passage.auth import AuthSubject
from passage.errors import BadRequest, Unprocessable

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
DEFAULT_KEEP = timedelta(hours=24)

# The header as a route parameter, so that OpenAPI documents it on every POST that honours it.
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=HEADER,
        max_length=MAX_KEY_LENGTH,
        description="Send a unique value (e.g. a UUID) to make a retry safe: the same key with the same "
        "body returns the first response; the same key with another body is refused (422). "
        "Keys are kept for 24 hours.",
    ),
]


def _define(metadata: sa.MetaData, schema: str) -> sa.Table:
    return sa.Table(
        "idempotency_keys",
        metadata,
        sa.Column("scope", sa.Text, primary_key=True),  # agency + sub of the caller
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("request_hash", sa.Text, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("body", JSONB, nullable=True),
        sa.Column("headers", JSONB, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Index(f"ix_{schema}_idempotency_created", "created_at"),
        schema=schema,
    )


@cache
def idempotency_table(schema: str) -> sa.Table:
    return _define(sa.MetaData(), schema)


def create_idempotency_table(bind: sa.Connection, schema: str) -> None:
    """For a migration of the component that adopts idempotency keys."""
    _define(sa.MetaData(), schema).create(bind)


def drop_idempotency_table(bind: sa.Connection, schema: str) -> None:
    _define(sa.MetaData(), schema).drop(bind)


def _canonical(raw: bytes) -> bytes:
    """JSON bodies compare by content, not by whitespace or key order."""
    if not raw:
        return b""
    try:
        return json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        return raw


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), _canonical(body)):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _check_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise BadRequest(
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable characters",
            errors=[{"field": f"header.{HEADER}", "message": "not a usable key", "code": "invalid"}],
        )
    return key


Result = BaseModel | Mapping[str, Any] | list[Any]


class Idempotency:
    """The keys of one component. Holds no state but the table definition."""

    def __init__(self, schema: str, *, keep: timedelta = DEFAULT_KEEP) -> None:
        self.table = idempotency_table(schema)
        self.keep = keep
        t = self.table
        # Built once: every POST with a key runs these two, so they skip statement construction.
        self._claim = (
            pg_insert(t)
            .values(
                scope=sa.bindparam("p_scope"), key=sa.bindparam("p_key"), request_hash=sa.bindparam("p_hash")
            )
            .on_conflict_do_nothing(index_elements=["scope", "key"])
            .returning(t.c.key)
        )
        self._store = (
            t.update()
            .where(t.c.scope == sa.bindparam("p_scope"), t.c.key == sa.bindparam("p_key"))
            .values(
                status_code=sa.bindparam("p_status"),
                body=sa.bindparam("p_body", type_=JSONB),
                headers=sa.bindparam("p_headers", type_=JSONB),
            )
        )

    async def respond(
        self,
        session: AsyncSession,
        request: Request,
        subject: AuthSubject,
        key: str | None,
        action: Callable[[], Awaitable[Result]],
        *,
        status_code: int = 201,
        headers: Callable[[Any], Mapping[str, str]] | None = None,
    ) -> JSONResponse:
        """Run `action` once per key, and answer with its result (or the first result again)."""
        if key is None:
            return await self._run(action, status_code, headers)
        key = _check_key(key)
        scope = f"{subject.agency}\x1f{subject.sub}"
        fingerprint = request_fingerprint(request.method, request.url.path, await request.body())
        claimed = await session.exec(
            self._claim, params={"p_scope": scope, "p_key": key, "p_hash": fingerprint}
        )
        if claimed.first() is None:
            return await self._replay(session, scope, key, fingerprint)
        response, content = await self._answer(action, status_code, headers)
        await session.exec(
            self._store,
            params={
                "p_scope": scope,
                "p_key": key,
                "p_status": response.status_code,
                "p_body": content,
                "p_headers": {k: v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS},
            },
        )
        return response

    async def _run(
        self,
        action: Callable[[], Awaitable[Result]],
        status_code: int,
        headers: Callable[[Any], Mapping[str, str]] | None,
    ) -> JSONResponse:
        return (await self._answer(action, status_code, headers))[0]

    async def _answer(
        self,
        action: Callable[[], Awaitable[Result]],
        status_code: int,
        headers: Callable[[Any], Mapping[str, str]] | None,
    ) -> tuple[JSONResponse, Any]:
        result = await action()
        content = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
        extra = dict(headers(result)) if headers else {}
        return JSONResponse(content, status_code=status_code, headers=extra), content

    async def _replay(self, session: AsyncSession, scope: str, key: str, fingerprint: str) -> JSONResponse:
        row = (
            await session.exec(  # type: ignore[call-overload]
                sa.select(self.table).where(self.table.c.scope == scope, self.table.c.key == key)
            )
        ).first()
        if row is None or row.status_code is None:
            # Cannot happen after the insert waited for the other transaction; be safe anyway.
            raise BadRequest(f"A request with this {HEADER} is still in progress; retry shortly")
        if row.request_hash != fingerprint:
            raise Unprocessable(
                f"This {HEADER} was used with a different request; use a new key for a new request",
                errors=[
                    {"field": f"header.{HEADER}", "message": "reused with another body", "code": "reused"}
                ],
            )
        replay_headers = dict(row.headers or {})
        replay_headers[REPLAYED_HEADER] = "true"
        return JSONResponse(row.body, status_code=row.status_code, headers=replay_headers)

    async def purge(
        self,
        session: AsyncSession,
        *,
        now: datetime | None = None,
        older_than: timedelta | None = None,
        limit: int | None = None,
    ) -> int:
        """Forget keys older than `older_than` (default: `keep`); at most `limit` per call, so a
        periodic job deletes in short transactions. Returns how many were removed."""
        t = self.table
        cutoff = (now or datetime.now(UTC)) - (older_than if older_than is not None else self.keep)
        condition = t.c.created_at < cutoff
        if limit is not None:
            oldest = sa.select(t.c.scope, t.c.key).where(condition).order_by(t.c.created_at).limit(limit)
            condition = sa.tuple_(t.c.scope, t.c.key).in_(oldest)
        result = await session.exec(t.delete().where(condition))
        return int(result.rowcount or 0)


_KEPT_HEADERS = frozenset({"location", "etag", "content-location"})
