"""Reminders from durable timers: identity documents and consents about to expire, N days before;
closing a file or withdrawing a consent cancels what was armed. Messages carry no personal data."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from nats.aio.client import Client as NATS

from passage.bus.envelope import CloudEvent, EventData
from passage.bus.nats import subject
from passage.contracts.intake import (
    ClientClosed,
    ClientRegistered,
    ClientUpdated,
    ConsentGranted,
    ConsentWithdrawn,
    DocumentExpiry,
)
from passage.settings import Settings
from tests.conftest import bearer
from tests.support import eventually, running

DOCUMENT_DAYS = 30
CONSENT_DAYS = 14
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


@pytest.fixture(scope="module")
async def service(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PASSAGE_NOTIFICATIONS_DOCUMENT_EXPIRY_DAYS_BEFORE", str(DOCUMENT_DAYS))
        mp.setenv("PASSAGE_NOTIFICATIONS_CONSENT_EXPIRY_DAYS_BEFORE", str(CONSENT_DAYS))
        async with running("notifications", settings.model_copy(update={"timer_poll_seconds": 0.2})) as (
            _app,
            client,
        ):
            yield client


async def publish(nc: NATS, settings: Settings, data: EventData) -> CloudEvent:
    event = CloudEvent.wrap(data, source="/passage/intake")
    await nc.jetstream().publish(
        subject(event.type, settings.nats_namespace), event.data, headers=event.headers()
    )
    return event


async def timer(db: asyncpg.Connection, kind: str, key: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await db.fetchrow(
        "SELECT * FROM notifications.timer WHERE kind = $1 AND key = $2", kind, key
    )
    return row


async def make_due(db: asyncpg.Connection, kind: str, key: str) -> None:
    """Time passes: the reminder's day has come (as the kernel's timer tests do)."""
    await db.execute(
        "UPDATE notifications.timer SET due_at = now() - interval '1 second' WHERE kind = $1 AND key = $2",
        kind,
        key,
    )


def eight_utc(day: date) -> datetime:
    return datetime.combine(day, time(8, 0), tzinfo=UTC)


def long_date(day: date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


async def notices(service: httpx.AsyncClient, token: Any, agency: str, kind: str) -> list[dict[str, Any]]:
    staff = bearer(token(agency=agency, roles=("case_worker",)))
    items = (await service.get("/v1/notifications", headers=staff)).json()["items"]
    return [n for n in items if n["kind"] == kind]


def registered(client_id: uuid.UUID, agency: str, *docs: DocumentExpiry) -> ClientRegistered:
    return ClientRegistered(
        client_id=client_id, agency_id=agency, registered_by="cw-1", document_expiries=list(docs)
    )


def updated(client_id: uuid.UUID, agency: str, version: int, *docs: DocumentExpiry) -> ClientUpdated:
    return ClientUpdated(
        client_id=client_id,
        agency_id=agency,
        updated_by="cw-1",
        record_version=version,
        changed_categories=["legal_status"],
        document_expiries=list(docs),
    )


def granted(client_id: uuid.UUID, agency: str, ends: datetime) -> ConsentGranted:
    return ConsentGranted(
        consent_id=uuid.uuid4(),
        client_id=client_id,
        agency_id=agency,
        grantee_agency_id=None,
        decision="permit",
        purposes=["referral"],
        categories=["identity", "needs"],
        period_start=datetime.now(UTC),
        period_end=ends,
    )


async def test_a_passport_reminder_fires_thirty_days_before_expiry_naming_no_one(
    service: httpx.AsyncClient, token: Any, nc: NATS, settings: Settings, db: asyncpg.Connection
) -> None:
    client_id, agency = uuid.uuid4(), "agency-r1"
    expires = datetime.now(UTC).date() + timedelta(days=DOCUMENT_DAYS + 10)
    doc = DocumentExpiry(document_id=uuid.uuid4(), kind="passport", expires_on=expires)
    await publish(nc, settings, registered(client_id, agency, doc))
    key = f"{client_id}:{doc.document_id}"
    armed = await eventually(lambda: timer(db, "document_expiry", key))
    assert armed["due_at"] == eight_utc(expires - timedelta(days=DOCUMENT_DAYS))
    assert await notices(service, token, agency, "reminders.document.expiring") == []

    await make_due(db, "document_expiry", key)
    [notice] = await eventually(lambda: notices(service, token, agency, "reminders.document.expiring"))
    reference = str(client_id).split("-")[0]
    # Only allow-listed values: the document's kind, a short file reference and the date.
    assert notice["title"] == (
        f"An identity document (passport) on file {reference} expires on {long_date(expires)}"
    )
    assert notice["resource"] == f"client/{client_id}"
    assert await timer(db, "document_expiry", key) is None
    assert await db.fetchval("SELECT count(*) FROM notifications.reminder_keys WHERE key = $1", key) == 0


async def test_a_consent_reminder_fires_fourteen_days_before_the_consent_ends(
    service: httpx.AsyncClient, token: Any, nc: NATS, settings: Settings, db: asyncpg.Connection
) -> None:
    client_id, agency = uuid.uuid4(), "agency-r2"
    ends = datetime.now(UTC) + timedelta(days=CONSENT_DAYS + 6)
    consent = granted(client_id, agency, ends)
    await publish(nc, settings, consent)
    key = str(consent.consent_id)
    armed = await eventually(lambda: timer(db, "consent_expiry", key))
    assert armed["due_at"] == eight_utc(ends.date() - timedelta(days=CONSENT_DAYS))

    await make_due(db, "consent_expiry", key)
    [notice] = await eventually(lambda: notices(service, token, agency, "reminders.consent.expiring"))
    reference = str(client_id).split("-")[0]
    assert notice["title"] == f"A consent on file {reference} expires on {long_date(ends.date())}"


async def test_closing_a_client_cancels_every_pending_reminder_and_arms_no_new_one(
    service: httpx.AsyncClient, nc: NATS, settings: Settings, db: asyncpg.Connection
) -> None:
    client_id, agency = uuid.uuid4(), "agency-r3"
    soon = datetime.now(UTC).date() + timedelta(days=90)
    docs = [DocumentExpiry(document_id=uuid.uuid4(), kind=k, expires_on=soon) for k in ("passport", "visa")]
    consent = granted(client_id, agency, datetime.now(UTC) + timedelta(days=60))
    await publish(nc, settings, registered(client_id, agency, *docs))
    await publish(nc, settings, consent)
    keys = [("document_expiry", f"{client_id}:{d.document_id}") for d in docs]
    keys.append(("consent_expiry", str(consent.consent_id)))

    async def all_armed() -> bool:
        return all([await timer(db, kind, key) is not None for kind, key in keys])

    await eventually(all_armed)
    await publish(
        nc,
        settings,
        ClientClosed(
            client_id=client_id,
            agency_id=agency,
            closure_reason="case_goals_met",
            closed_by="sup-1",
            closed_at=datetime.now(UTC),
        ),
    )

    async def none_armed() -> bool:
        return all([await timer(db, kind, key) is None for kind, key in keys])

    await eventually(none_armed)
    # A late update of the closed file (a newer version) arms nothing again.
    await publish(nc, settings, updated(client_id, agency, 7, *docs))
    late = await publish(nc, settings, granted(client_id, agency, datetime.now(UTC) + timedelta(days=60)))
    await eventually(lambda: db.fetchval("SELECT 1 FROM notifications.inbox WHERE event_id = $1", late.id))
    assert await none_armed()
    assert await timer(db, "consent_expiry", str(late.parse(ConsentGranted).consent_id)) is None


async def test_withdrawing_a_consent_cancels_its_reminder(
    service: httpx.AsyncClient, nc: NATS, settings: Settings, db: asyncpg.Connection
) -> None:
    client_id, agency = uuid.uuid4(), "agency-r4"
    consent = granted(client_id, agency, datetime.now(UTC) + timedelta(days=45))
    await publish(nc, settings, consent)
    key = str(consent.consent_id)
    await eventually(lambda: timer(db, "consent_expiry", key))
    await publish(
        nc,
        settings,
        ConsentWithdrawn(
            consent_id=consent.consent_id,
            client_id=client_id,
            agency_id=agency,
            grantee_agency_id=None,
            withdrawn_by="cw-2",
            withdrawn_at=datetime.now(UTC),
        ),
    )

    async def cancelled() -> bool:
        return await timer(db, "consent_expiry", key) is None

    await eventually(cancelled)


async def test_a_document_removed_from_the_file_loses_its_reminder_and_an_older_update_does_not_restore_it(
    service: httpx.AsyncClient, nc: NATS, settings: Settings, db: asyncpg.Connection
) -> None:
    client_id, agency = uuid.uuid4(), "agency-r5"
    soon = datetime.now(UTC).date() + timedelta(days=120)
    kept = DocumentExpiry(document_id=uuid.uuid4(), kind="passport", expires_on=soon)
    removed = DocumentExpiry(document_id=uuid.uuid4(), kind="residence_permit", expires_on=soon)
    await publish(nc, settings, updated(client_id, agency, 2, kept, removed))
    removed_key = f"{client_id}:{removed.document_id}"
    await eventually(lambda: timer(db, "document_expiry", removed_key))
    await publish(nc, settings, updated(client_id, agency, 3, kept))

    async def gone() -> bool:
        return await timer(db, "document_expiry", removed_key) is None

    await eventually(gone)
    older = await publish(nc, settings, updated(client_id, agency, 2, kept, removed))
    await eventually(lambda: db.fetchval("SELECT 1 FROM notifications.inbox WHERE event_id = $1", older.id))
    assert await gone()
    assert await timer(db, "document_expiry", f"{client_id}:{kept.document_id}") is not None
