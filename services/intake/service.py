"""Intake's business logic. It never commits: the request or consumer boundary does."""

from __future__ import annotations

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from passage.auth import AuthSubject
from passage.bus import Outbox
from passage.errors import NotFound
from services.intake.events import ClientRegistered, outbox
from services.intake.models import Client, ClientCreate
from services.intake.repository import ClientRepository


class ClientService:
    def __init__(self, repository: ClientRepository, events: Outbox) -> None:
        self._repository = repository
        self._events = events

    async def register(self, session: AsyncSession, subject: AuthSubject, data: ClientCreate) -> Client:
        client = Client.model_validate(
            data, update={"agency_id": subject.agency, "registered_by": subject.sub}
        )
        await self._repository.add(session, client)
        await self._events.add(
            session,
            ClientRegistered(client_id=client.id, agency_id=client.agency_id, registered_by=subject.sub),
            subject=f"client/{client.id}",
        )
        return client

    async def get(self, session: AsyncSession, subject: AuthSubject, client_id: uuid.UUID) -> Client:
        client = await self._repository.get(session, subject, client_id)
        if client is None:
            raise NotFound(f"No client {client_id} in your agency")
        return client


client_service = ClientService(ClientRepository(), outbox)
