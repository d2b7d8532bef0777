"""Events scoring reacts to: intake's clients, assessments and case plans; referrals' directory."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from passage.bus import CloudEvent, Subscription
from passage.contracts.intake import (
    AssessmentSubmitted,
    CasePlanChanged,
    ClientClosed,
    ClientRegistered,
    ClientReopened,
    ClientUpdated,
)
from passage.contracts.referrals import DirectoryChanged
from passage.timers import DueTimer
from services.scoring.match_service import matching_service
from services.scoring.service import clients as client_service
from services.scoring.service import schedule_service, score_service


async def on_client_registered(session: AsyncSession, event: CloudEvent) -> None:
    data = event.parse(ClientRegistered)
    await schedule_service.plan_baseline(
        session, client_id=data.client_id, agency_id=data.agency_id, registered_on=event.time.date()
    )


async def on_client_updated(session: AsyncSession, event: CloudEvent) -> None:
    data = event.parse(ClientUpdated)
    await client_service.remember(session, client_id=data.client_id, agency_id=data.agency_id)


async def on_client_closed(session: AsyncSession, event: CloudEvent) -> None:
    data = event.parse(ClientClosed)
    await client_service.remember(
        session, client_id=data.client_id, agency_id=data.agency_id, status="closed"
    )
    await schedule_service.client_closed(session, data.client_id)


async def on_client_reopened(session: AsyncSession, event: CloudEvent) -> None:
    data = event.parse(ClientReopened)
    await client_service.remember(session, client_id=data.client_id, agency_id=data.agency_id, status="open")
    await schedule_service.recompute(session, data.client_id)


async def on_assessment_submitted(session: AsyncSession, event: CloudEvent) -> None:
    await score_service.assessment_submitted(session, event.parse(AssessmentSubmitted))


async def on_caseplan_changed(session: AsyncSession, event: CloudEvent) -> None:
    await schedule_service.plan_changed(session, event.parse(CasePlanChanged))


async def on_directory_changed(session: AsyncSession, event: CloudEvent) -> None:
    data = event.parse(DirectoryChanged)
    await matching_service.directory_changed(session, data.entity, list(data.ids), data.change)


async def on_followup_due(session: AsyncSession, timer: DueTimer) -> None:
    await schedule_service.fall_due(session, timer)


subscriptions = (
    Subscription(
        source="intake",
        handlers={
            ClientRegistered.event_type: on_client_registered,
            ClientUpdated.event_type: on_client_updated,
            ClientClosed.event_type: on_client_closed,
            ClientReopened.event_type: on_client_reopened,
            AssessmentSubmitted.event_type: on_assessment_submitted,
            CasePlanChanged.event_type: on_caseplan_changed,
        },
    ),
    Subscription(source="referrals", handlers={DirectoryChanged.event_type: on_directory_changed}),
)
