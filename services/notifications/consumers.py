"""Events a person or partner system must hear about, and the reminders they arm.

Each handler turns an event into notices (see dispatch.py); reminders that fall due later
(an identity document or a consent about to expire) are durable timers, see reminders.py.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from passage.bus import CloudEvent, Subscription
from passage.contracts import gateway, intake, referrals, scoring
from passage.timers import DueTimer
from services.notifications.dispatch import Notice, dispatcher, notification_settings
from services.notifications.reminders import (
    CONSENT_EXPIRY,
    DOCUMENT_EXPIRY,
    REGISTERED_VERSION,
    reminders,
)

_REMINDER_NAMESPACE = uuid.UUID("6f1c3a52-8d0e-4c1b-9d51-4a0c2f7e9b11")
STAFF = frozenset({"case_worker", "supervisor"})

# Who hears of a referral's change: the receiver of a new one, the sender of an answer.
_TO_RECEIVER = {referrals.ReferralRequested, referrals.ReferralTransferred}
_REFERRAL_EVENTS: tuple[type[referrals._ReferralEvent], ...] = (
    referrals.ReferralRequested,
    referrals.ReferralAccepted,
    referrals.ReferralRejected,
    referrals.ReferralStarted,
    referrals.ReferralCompleted,
    referrals.ReferralCancelled,
    referrals.ReferralOnHold,
    referrals.ReferralTransferred,
)


def _notice(event: CloudEvent, **kwargs: object) -> Notice:
    return Notice(event_id=event.id, event_type=event.type, event_time=event.time, **kwargs)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------- intake


async def on_client_registered(session: AsyncSession, event: CloudEvent) -> None:
    data = event.parse(intake.ClientRegistered)
    await dispatcher.dispatch(
        session,
        _notice(
            event,
            notice_type=event.type,
            agency=data.agency_id,
            resource_type="client",
            resource_id=data.client_id,
        ),
    )
    await reminders.follow_documents(
        session,
        client_id=data.client_id,
        agency=data.agency_id,
        version=REGISTERED_VERSION,
        expiries=data.document_expiries,
    )


async def on_client_updated(session: AsyncSession, event: CloudEvent) -> None:
    data = event.parse(intake.ClientUpdated)
    await dispatcher.dispatch(
        session,
        _notice(
            event,
            notice_type=event.type,
            agency=data.agency_id,
            resource_type="client",
            resource_id=data.client_id,
            webhook_data={
                "record_version": data.record_version,
                "changed_categories": data.changed_categories,
            },
            people=False,
        ),
    )
    await reminders.follow_documents(
        session,
        client_id=data.client_id,
        agency=data.agency_id,
        version=data.record_version,
        expiries=data.document_expiries,
    )


async def on_client_closed(session: AsyncSession, event: CloudEvent) -> None:
    data = event.parse(intake.ClientClosed)
    await dispatcher.dispatch(
        session,
        _notice(
            event,
            notice_type=event.type,
            agency=data.agency_id,
            resource_type="client",
            resource_id=data.client_id,
            webhook_data={"closure_reason": data.closure_reason},
            people=False,
        ),
    )
    await reminders.client_closed(session, data.client_id, data.closed_at)


async def on_client_anonymised(session: AsyncSession, event: CloudEvent) -> None:
    data = event.parse(intake.ClientAnonymised)
    await reminders.client_closed(session, data.client_id, event.time)


async def on_client_reopened(session: AsyncSession, event: CloudEvent) -> None:
    data = event.parse(intake.ClientReopened)
    await reminders.client_reopened(session, data.client_id)


async def on_consent_granted(session: AsyncSession, event: CloudEvent) -> None:
    data = event.parse(intake.ConsentGranted)
    await dispatcher.dispatch(
        session,
        _notice(
            event,
            notice_type=event.type,
            agency=data.agency_id,
            resource_type="consent",
            resource_id=data.consent_id,
            webhook_data={
                "client_id": str(data.client_id),
                "decision": data.decision,
                "purposes": data.purposes,
            },
            people=False,
        ),
    )
    await reminders.consent_granted(session, data)


async def on_consent_withdrawn(session: AsyncSession, event: CloudEvent) -> None:
    data = event.parse(intake.ConsentWithdrawn)
    await reminders.consent_ended(session, data.consent_id)
    await dispatcher.dispatch(
        session,
        _notice(
            event,
            notice_type=event.type,
            agency=data.agency_id,
            resource_type="consent",
            resource_id=data.consent_id,
            webhook_data={"client_id": str(data.client_id)},
            people=False,
        ),
    )


async def on_consent_expired(session: AsyncSession, event: CloudEvent) -> None:
    data = event.parse(intake.ConsentExpired)
    await reminders.consent_ended(session, data.consent_id)


# -------------------------------------------------------------------------------------- referrals


def _referral_webhook_data(data: referrals._ReferralEvent) -> dict[str, object]:
    return {
        "status": data.status,
        "sending_agency_id": data.sending_agency_id,
        "receiving_agency_id": data.receiving_agency_id,
        "client_id": str(data.client_id),
        "emergency": data.emergency,
    }


async def on_referral_changed(session: AsyncSession, event: CloudEvent) -> None:
    model = next(m for m in _REFERRAL_EVENTS if m.event_type == event.type)
    data = event.parse(model)
    told = data.receiving_agency_id if model in _TO_RECEIVER else data.sending_agency_id
    common = {
        "notice_type": event.type,
        "resource_type": "referral",
        "resource_id": data.referral_id,
        "context": {"status": data.status},
        "webhook_data": _referral_webhook_data(data),
    }
    # Both agencies' partner systems may follow the referral; the people of the one it concerns are told.
    for agency in dict.fromkeys((data.sending_agency_id, data.receiving_agency_id)):
        await dispatcher.dispatch(session, _notice(event, agency=agency, people=agency == told, **common))


async def on_referral_overdue(session: AsyncSession, event: CloudEvent) -> None:
    data = event.parse(referrals.ReferralOverdue)
    await dispatcher.dispatch(
        session,
        _notice(
            event,
            notice_type=event.type,
            agency=data.receiving_agency_id,
            resource_type="referral",
            resource_id=data.referral_id,
            roles=frozenset({"supervisor"}),
            context={"sla_hours": data.sla_hours, "due_at": data.due_at, "status": data.status},
            webhook_data={
                **_referral_webhook_data(data),
                "sla_hours": data.sla_hours,
                "due_at": data.due_at.isoformat(),
            },
        ),
    )


# ---------------------------------------------------------------------------------- scoring, gateway


async def on_followup_due(session: AsyncSession, event: CloudEvent) -> None:
    data = event.parse(scoring.FollowupDue)
    settings = notification_settings()
    notice = _notice(
        event,
        notice_type=event.type,
        agency=data.agency_id,
        resource_type="client",
        resource_id=data.client_id,
        users=(data.case_worker,) if data.case_worker else (),
        roles=None if data.case_worker else frozenset({"supervisor"}),
        context={"due_on": data.due_on, "kind": data.kind},
        webhook_data={"item_id": str(data.item_id), "kind": data.kind, "due_on": data.due_on.isoformat()},
    )
    await dispatcher.dispatch(session, notice)
    if settings.client_sms_reminders:
        client_notice = _notice(
            event,
            notice_type="client.followup.reminder",
            agency=data.agency_id,
            resource_type="client",
            resource_id=data.client_id,
            context={"due_on": data.due_on.isoformat()},
        )
        await dispatcher.plan_client_sms(session, client_notice, client_id=data.client_id, settings=settings)


async def on_breakglass_started(session: AsyncSession, event: CloudEvent) -> None:
    data = event.parse(gateway.BreakGlassStarted)
    await dispatcher.dispatch(
        session,
        _notice(
            event,
            notice_type=event.type,
            agency=data.agency_id,
            resource_type="client",
            resource_id=data.client_id,
            roles=frozenset({"data_protection_officer"}),
        ),
    )


# ----------------------------------------------------------------------------------------- timers


async def on_document_expiry_due(session: AsyncSession, timer: DueTimer) -> None:
    await _expiry_notice(session, timer, "reminders.document.expiring")


async def on_consent_expiry_due(session: AsyncSession, timer: DueTimer) -> None:
    await _expiry_notice(session, timer, "reminders.consent.expiring")


async def _expiry_notice(session: AsyncSession, timer: DueTimer, notice_type: str) -> None:
    await reminders.fired(session, timer.kind, timer.key)
    p = timer.payload
    event_id = uuid.uuid5(_REMINDER_NAMESPACE, f"{timer.kind}:{timer.key}:{p['expires_on']}")
    context = {"expires_on": p["expires_on"], "days_before": p["days_before"]}
    if "document_kind" in p:
        context["document_kind"] = p["document_kind"]
    await dispatcher.dispatch(
        session,
        Notice(
            notice_type=notice_type,
            event_id=event_id,
            event_type=notice_type,
            event_time=datetime.now(UTC),
            agency=p["agency_id"],
            resource_type="client",
            resource_id=uuid.UUID(p["client_id"]),
            roles=STAFF,
            context=context,
        ),
    )


subscriptions = (
    Subscription(
        source="intake",
        handlers={
            intake.ClientRegistered.event_type: on_client_registered,
            intake.ClientUpdated.event_type: on_client_updated,
            intake.ClientClosed.event_type: on_client_closed,
            intake.ClientAnonymised.event_type: on_client_anonymised,
            intake.ClientReopened.event_type: on_client_reopened,
            intake.ConsentGranted.event_type: on_consent_granted,
            intake.ConsentWithdrawn.event_type: on_consent_withdrawn,
            intake.ConsentExpired.event_type: on_consent_expired,
        },
    ),
    Subscription(
        source="referrals",
        handlers={
            **{m.event_type: on_referral_changed for m in _REFERRAL_EVENTS},
            referrals.ReferralOverdue.event_type: on_referral_overdue,
        },
    ),
    Subscription(source="scoring", handlers={scoring.FollowupDue.event_type: on_followup_due}),
    Subscription(source="gateway", handlers={gateway.BreakGlassStarted.event_type: on_breakglass_started}),
)

timer_handlers = {DOCUMENT_EXPIRY: on_document_expiry_due, CONSENT_EXPIRY: on_consent_expiry_due}
