"""Whole-file concerns: retention (anonymisation), subject-access export, the change feed and statistics."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from passage.auth import AuthSubject
from passage.errors import BadRequest, NotFound, Unprocessable
from passage.timers import DueTimer
from services.intake.casework import casework_service
from services.intake.categories import categories_map
from services.intake.events import ClientAnonymised, ConsentExpired, outbox
from services.intake.models import Client, Consent
from services.intake.schemas import ChangePublic, ChangesPage
from services.intake.service import apply_profile, client_service, now, present, present_consent
from services.intake.timing import (
    PURGE_BATCH,
    STATISTICS_FIELDS,
    IntakeSettings,
    arm_idempotency_purge,
    idempotency,
)


async def anonymise(session: AsyncSession, client: Client) -> bool:
    """Personal fields go; statistics fields stay; the file keeps its id and dates."""
    if client.status != "closed":
        return False  # reopened (or already anonymised) since the timer was set
    repo = client_service.repo
    profile = {k: v for k, v in client.profile.items() if k in STATISTICS_FIELDS}
    area = client.profile.get("area") or {}
    if area.get("admin1"):
        profile["area"] = {"admin1": area["admin1"]}
    apply_profile(client, profile)
    client.status, client.closure_note, client.anonymised_at = "anonymised", None, now()
    client.possible_duplicates = []
    client.version += 1
    client.updated_at = now()
    session.add(client)
    if await repo.scrub_children(session, client.id):
        await repo.bump_consent_revision(session, [client.id])
    await outbox.add(
        session,
        ClientAnonymised(client_id=client.id, agency_id=client.agency_id),
        subject=f"client/{client.id}",
    )
    await client_service.change(session, client, "passage-retention", "anonymised")
    return True


async def on_retention_due(session: AsyncSession, timer: DueTimer) -> None:
    client = await client_service.repo.system_get(session, Client, uuid.UUID(timer.key))
    if isinstance(client, Client):
        await anonymise(session, client)


async def on_consent_expiry_due(session: AsyncSession, timer: DueTimer) -> None:
    consent = await client_service.repo.system_get(session, Consent, uuid.UUID(timer.key))
    if (
        not isinstance(consent, Consent)
        or consent.status != "active"
        or consent.expiry_announced
        or consent.period_end is None
    ):
        return
    consent.expiry_announced = True
    session.add(consent)
    # The consent's state changed (in force -> expired): move the revision so a cache of it is
    # read again. A cache must still check `period_end` itself: the timer fires a poll after it.
    await client_service.repo.bump_consent_revision(session, [consent.client_id])
    await outbox.add(
        session,
        ConsentExpired(
            consent_id=consent.id,
            client_id=consent.client_id,
            agency_id=consent.agency_id,
            grantee_agency_id=consent.grantee_agency_id,
            expired_at=consent.period_end,
        ),
        subject=f"client/{consent.client_id}",
    )


async def on_idempotency_purge_due(session: AsyncSession, timer: DueTimer) -> None:
    """Forget Idempotency-Keys past their retention, then re-arm: at once if a full batch went
    (more are waiting), else after the purge interval."""
    settings = IntakeSettings()
    removed = await idempotency.purge(
        session, older_than=timedelta(hours=settings.idempotency_retention_hours), limit=PURGE_BATCH
    )
    wait = 0.0 if removed >= PURGE_BATCH else settings.idempotency_purge_interval_seconds
    await arm_idempotency_purge(session, now() + timedelta(seconds=wait))


# -- change feed -------------------------------------------------------------------------------------


def encode_since(txid: int, seq: int) -> str:
    return base64.urlsafe_b64encode(json.dumps(["changes", txid, seq]).encode()).decode().rstrip("=")


def decode_since(cursor: str | None) -> tuple[int, int]:
    """A feed position (txid, seq); the start of the feed when no cursor is given."""
    if not cursor:
        return (0, 0)
    try:
        tag, txid, seq = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if tag != "changes" or not all(isinstance(n, int) and 0 <= n < 2**63 for n in (txid, seq)):
            raise ValueError
        return (txid, seq)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise BadRequest(
            "`since` is not a cursor this feed gave out; start again without it",
            errors=[{"field": "query.since", "message": "unknown cursor", "code": "invalid"}],
        ) from None


async def changes(session: AsyncSession, subject: AuthSubject, since: str | None, limit: int) -> ChangesPage:
    start = decode_since(since)
    rows = await client_service.repo.changes(session, subject, since=start, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        ChangePublic(
            cursor=encode_since(int(r.txid or 0), int(r.seq or 0)),
            resource=r.resource,
            resource_id=r.resource_id,
            client_id=r.client_id,
            action=r.action,
            changed_at=r.changed_at,
        )
        for r in rows
    ]
    last = (int(rows[-1].txid or 0), int(rows[-1].seq or 0)) if rows else start
    return ChangesPage(items=items, next_cursor=encode_since(*last), has_more=more)


# -- subject access ------------------------------------------------------------------------------------


async def export(session: AsyncSession, subject: AuthSubject, client_id: uuid.UUID) -> dict[str, Any]:
    client = await client_service.get(session, subject, client_id)
    repo = client_service.repo
    consents = await repo.consents(session, client.id, limit=10_000, after=None)
    assessments, _ = await casework_service.assessments(
        session, subject, client.id, kind=None, limit=10_000, cursor=None
    )
    followups, _ = await casework_service.followups(session, subject, client.id, limit=10_000, cursor=None)
    plans = await casework_service.plans(session, subject, client.id)
    try:
        household: Any = (await casework_service.household_of(session, subject, client.id)).model_dump(
            mode="json"
        )
    except NotFound:
        household = None
    history = await repo.history(session, client.id)
    return {
        "exported_at": now().isoformat(),
        "exported_by": subject.sub,
        "categories": categories_map(),
        "client": present(client).model_dump(mode="json"),
        "consents": [present_consent(c).model_dump(mode="json") for c in consents],
        "assessments": [a.model_dump(mode="json") for a in assessments],
        "case_plans": [p.model_dump(mode="json") for p in plans],
        "followups": [f.model_dump(mode="json") for f in followups],
        "household": household,
        "history": [
            {
                "resource": h.resource,
                "resource_id": str(h.resource_id),
                "action": h.action,
                "by": h.changed_by,
                "at": h.changed_at.isoformat(),
            }
            for h in history
        ],
    }


# -- statistics ------------------------------------------------------------------------------------------

DIMENSIONS = ("period", "area", "gender", "age_band", "vulnerability")


async def statistics(
    session: AsyncSession, group_by: str | None, start: date | None, end: date | None
) -> dict[str, Any]:
    dims = [d.strip() for d in (group_by or "").split(",") if d.strip()]
    unknown = [d for d in dims if d not in DIMENSIONS]
    if unknown or len(set(dims)) != len(dims):
        raise Unprocessable(
            f"group_by takes distinct values among {', '.join(DIMENSIONS)}",
            errors=[
                {
                    "field": "query.group_by",
                    "message": f"unknown or repeated: {unknown or dims}",
                    "code": "enum",
                }
            ],
        )
    if start and end and end < start:
        raise Unprocessable(
            "`to` is before `from`", errors=[{"field": "query.to", "message": "before from", "code": "range"}]
        )

    def at(day: date | None, plus: int = 0) -> datetime | None:
        return datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(days=plus) if day else None

    cells = await client_service.repo.statistics(
        session, dimensions=dims, start=at(start), end=at(end, 1), this_year=now().year
    )
    return {"group_by": dims, "cells": cells}
