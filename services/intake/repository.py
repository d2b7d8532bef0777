"""Every query of intake's tables. The agency scope is applied here, in one place."""

from __future__ import annotations

import uuid

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from passage.auth import AuthSubject
from services.intake.models import Client


class ClientRepository:
    def readable(self, subject: AuthSubject) -> SelectOfScalar[Client]:
        """The clients `subject` may see through intake's own API: its agency's.

        Cross-agency sharing is the gateway's decision (consent x agreement), never intake's.
        """
        return select(Client).where(Client.agency_id == subject.agency)

    async def get(self, session: AsyncSession, subject: AuthSubject, client_id: uuid.UUID) -> Client | None:
        result = await session.exec(self.readable(subject).where(Client.id == client_id))
        return result.first()

    async def add(self, session: AsyncSession, client: Client) -> Client:
        session.add(client)
        await session.flush()
        return client
