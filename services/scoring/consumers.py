"""Events scoring reacts to."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from passage.bus import CloudEvent, Subscription
from passage.contracts.intake import ClientRegistered
from services.scoring.service import schedule_service


async def on_client_registered(session: AsyncSession, event: CloudEvent) -> None:
    data = event.parse(ClientRegistered)
    await schedule_service.plan_baseline(
        session, client_id=data.client_id, agency_id=data.agency_id, registered_on=event.time.date()
    )


subscriptions = (Subscription(source="intake", handlers={ClientRegistered.event_type: on_client_registered}),)
