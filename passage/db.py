"""Async SQLAlchemy/SQLModel over asyncpg; one PostgreSQL schema per component.

Services never commit: the request boundary (`SessionDep`) or the event consumer commits,
which is what lets an outbox row commit together with the business change.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from passage.settings import Settings


class Database:
    def __init__(self, settings: Settings, *, application_name: str) -> None:
        self.engine: AsyncEngine = create_async_engine(
            settings.database_url,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_pool_size,
            pool_pre_ping=True,
            pool_recycle=1800,
            connect_args={"server_settings": {"application_name": application_name}},
        )
        self.sessionmaker = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


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
