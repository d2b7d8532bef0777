"""Async SQLAlchemy/SQLModel over asyncpg; one PostgreSQL schema per component.

Services never commit: the request boundary (`SessionDep`) or the event consumer commits,
which is what lets an outbox row commit together with the business change.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import event, exc, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from passage.settings import Settings


class Database:
    def __init__(self, settings: Settings, *, application_name: str) -> None:
        self.engine: AsyncEngine = create_async_engine(
            settings.database_url,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_pool_size,
            pool_recycle=1800,
            connect_args={"server_settings": {"application_name": application_name}},
        )
        ping_idle_connections(self.engine, settings.database_ping_idle_seconds)
        self.sessionmaker = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def ping_idle_connections(engine: AsyncEngine, idle_seconds: float) -> None:
    """Check a pooled connection before use only if it sat idle longer than `idle_seconds`.

    SQLAlchemy's `pool_pre_ping` checks on EVERY checkout, and for asyncpg a check is three round
    trips (BEGIN, SELECT, ROLLBACK): about a fifth of a short request's work. A connection used a
    moment ago is alive; one that sat idle may have been cut (a database restart, a firewall), and
    is checked and, if dead, replaced before anyone gets it. A connection that dies between two busy
    uses fails that one request, which is answered 503 with Retry-After like any database outage.
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def _remember_checkin(dbapi_connection: Any, record: Any) -> None:
        record.info["passage_checked_in"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.get("passage_checked_in")
        if since is None or time.monotonic() - since < idle_seconds:
            return  # brand new, or used a moment ago
        try:
            dbapi_connection.ping()
        except Exception as error:
            # The pool throws this connection away and tries another (or a new one).
            raise exc.DisconnectionError(f"idle connection failed its check: {error}") from error


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    db: Database = request.app.state.db
    async with db.sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


# scope="function": the commit happens when the route returns, before the response is sent,
# so a client that gets 201 can read its write back at once.
SessionDep = Annotated[AsyncSession, Depends(_request_session, scope="function")]


def asyncpg_dsn(database_url: str) -> str:
    """The plain libpq-style URL that asyncpg.connect() takes."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
