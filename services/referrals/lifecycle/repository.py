"""Every referral query. The read scope is built once, in `readable()`: the sending and the
receiving agency see a referral (a draft only its sender), and Passage components (role `service`)
see all of them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from passage.auth import AuthSubject, Role
from services.referrals.lifecycle.models import (
    OPEN,
    ConsentWithdrawal,
    Referral,
    ReferralHistory,
    Status,
)


def readable(subject: AuthSubject) -> Any:
    """The one place the referral read scope is built."""
    if subject.has_any_role({Role.SERVICE.value}):
        return sa.true()
    return sa.or_(
        col(Referral.sending_agency_id) == subject.agency,
        sa.and_(
            col(Referral.receiving_agency_id) == subject.agency, col(Referral.status) != Status.DRAFT.value
        ),
    )


class ReferralRepository:
    async def add(self, session: AsyncSession, referral: Referral) -> Referral:
        session.add(referral)
        await session.flush()
        return referral

    async def record(self, session: AsyncSession, entry: ReferralHistory) -> None:
        session.add(entry)
        await session.flush()

    async def get(
        self, session: AsyncSession, subject: AuthSubject, referral_id: uuid.UUID
    ) -> Referral | None:
        rows = await session.exec(select(Referral).where(Referral.id == referral_id, readable(subject)))
        return rows.first()

    async def lock(self, session: AsyncSession, referral_id: uuid.UUID) -> Referral | None:
        rows = await session.exec(select(Referral).where(Referral.id == referral_id).with_for_update())
        return rows.first()

    async def history(
        self, session: AsyncSession, referral_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[ReferralHistory]]:
        if not referral_ids:
            return {}
        rows = await session.exec(
            select(ReferralHistory)
            .where(col(ReferralHistory.referral_id).in_(list(referral_ids)))
            .order_by(col(ReferralHistory.seq))
        )
        out: dict[uuid.UUID, list[ReferralHistory]] = {}
        for row in rows.all():
            out.setdefault(row.referral_id, []).append(row)
        return out

    async def by_ids(
        self, session: AsyncSession, subject: AuthSubject, ids: Sequence[uuid.UUID]
    ) -> list[Referral]:
        rows = await session.exec(select(Referral).where(col(Referral.id).in_(list(ids)), readable(subject)))
        return list(rows.all())

    async def page(
        self,
        session: AsyncSession,
        subject: AuthSubject,
        *,
        direction: str | None,
        status: str | None,
        client_id: uuid.UUID | None,
        overdue: bool | None,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[Referral]:
        statement = select(Referral).where(readable(subject))
        if direction == "sent":
            statement = statement.where(Referral.sending_agency_id == subject.agency)
        elif direction == "received":
            statement = statement.where(Referral.receiving_agency_id == subject.agency)
        if status:
            statement = statement.where(Referral.status == status)
        if client_id is not None:
            statement = statement.where(Referral.client_id == client_id)
        if overdue is not None:
            statement = statement.where(Referral.overdue == overdue)
        if after is not None:
            statement = statement.where(
                sa.tuple_(col(Referral.created_at), col(Referral.id)) < sa.tuple_(*after)
            )
        rows = await session.exec(
            statement.order_by(col(Referral.created_at).desc(), col(Referral.id).desc()).limit(limit + 1)
        )
        return list(rows.all())

    async def claim_withdrawal(
        self, session: AsyncSession, *, consent_id: uuid.UUID, client_id: uuid.UUID, withdrawn_at: datetime
    ) -> bool:
        """True the first time this consent's withdrawal is applied; False on any later delivery."""
        result = await session.exec(
            insert(ConsentWithdrawal)
            .values(consent_id=consent_id, client_id=client_id, withdrawn_at=withdrawn_at)
            .on_conflict_do_nothing(index_elements=["consent_id"])
            .returning(col(ConsentWithdrawal.consent_id))
        )
        return result.first() is not None

    async def note_withdrawal_effect(
        self, session: AsyncSession, consent_id: uuid.UUID, affected: int
    ) -> None:
        await session.exec(
            sa.update(ConsentWithdrawal)
            .where(col(ConsentWithdrawal.consent_id) == consent_id)
            .values(referrals_affected=affected)
        )

    async def open_relying_on(self, session: AsyncSession, consent_id: uuid.UUID) -> list[Referral]:
        rows = await session.exec(
            select(Referral)
            .where(Referral.consent_id == consent_id, col(Referral.status).in_([s.value for s in OPEN]))
            .order_by(col(Referral.id))
            .with_for_update()
        )
        return list(rows.all())

    async def kpis(
        self,
        session: AsyncSession,
        subject: AuthSubject,
        *,
        start: datetime,
        end: datetime,
        group_by: Sequence[str],
    ) -> list[dict[str, Any]]:
        """Counts per side (sent by / received by an agency). Scope: a member sees their agency's
        side of each referral; role `service` (the gateway, which suppresses small cells) all."""
        r = Referral.__table__  # type: ignore[attr-defined]
        base = [r.c.created_at >= start, r.c.created_at < end, r.c.status != Status.DRAFT.value]
        sent = sa.select(r, r.c.sending_agency_id.label("agency"), sa.literal("sent").label("side")).where(
            *base
        )
        received = sa.select(
            r, r.c.receiving_agency_id.label("agency"), sa.literal("received").label("side")
        ).where(*base)
        if not subject.has_any_role({Role.SERVICE.value}):
            sent = sent.where(r.c.sending_agency_id == subject.agency)
            received = received.where(r.c.receiving_agency_id == subject.agency)
        sides = sa.union_all(sent, received).subquery("sides")
        dimensions = {
            "agency": sides.c.agency,
            "service_type": sides.c.referral_type,
            "period": sa.func.to_char(sa.func.timezone("UTC", sides.c.created_at), "YYYY-MM"),
            "gender": sa.func.coalesce(sides.c.client_gender, "unknown"),
            "age_band": sides.c.client_age_band,
            "urgency": sides.c.urgency,
        }
        chosen = [dimensions[name].label(name) for name in group_by]
        on_received = sides.c.side == "received"
        seconds_to_accept = sa.func.extract("epoch", sides.c.accepted_at - sides.c.requested_at)
        measures = [
            sa.func.count().filter(sides.c.side == "sent").label("sent"),
            sa.func.count().filter(on_received).label("received"),
            sa.func.count().filter(on_received, sides.c.accepted_at.is_not(None)).label("accepted"),
            sa.func.count().filter(on_received, sides.c.status == Status.COMPLETED.value).label("completed"),
            sa.func.count().filter(on_received, sides.c.status == Status.REJECTED.value).label("rejected"),
            sa.func.count().filter(on_received, sides.c.closed_at.is_not(None)).label("closed"),
            sa.func.count()
            .filter(on_received, sides.c.closed_at.is_not(None), sides.c.outcome_code.is_not(None))
            .label("closed_with_outcome"),
            sa.func.count().filter(on_received, sides.c.overdue).label("overdue"),
            sa.func.percentile_cont(0.5)
            .within_group(seconds_to_accept)
            .filter(on_received, sides.c.accepted_at.is_not(None))
            .label("median_seconds_to_accept"),
        ]
        statement = sa.select(*chosen, *measures).select_from(sides)
        if chosen:
            statement = statement.group_by(*chosen).order_by(*chosen)
        rows = await session.exec(statement)  # type: ignore[call-overload]
        return [dict(row._mapping) for row in rows]


referral_repository = ReferralRepository()
