"""Events a person or partner system must hear about."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from passage.bus import CloudEvent, Subscription
from passage.contracts.intake import ClientRegistered
from services.notifications.service import in_app_service


async def on_client_registered(session: AsyncSession, event: CloudEvent) -> None:
    data = event.parse(ClientRegistered)
    await in_app_service.notify_agency(
        session, agency=data.agency_id, event=event, resource=f"client/{data.client_id}"
    )


subscriptions = (Subscription(source="intake", handlers={ClientRegistered.event_type: on_client_registered}),)
