"""Every agreement query. Who may read which agreement is decided here, once: the parties' members,
coordinators (the network's agreements are theirs too), and Passage components (role `service`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from passage.auth import AuthSubject, Role
from services.referrals.agreements.models import Agreement, AgreementStatus

_ALL_READERS = frozenset({Role.SERVICE.value, Role.COORDINATOR.value})


def readable(subject: AuthSubject) -> Any:
    """The one place the agreement read scope is built."""
    if subject.has_any_role(_ALL_READERS):
        return sa.true()
    return col(Agreement.parties).contains([subject.agency])


def _in_force(at: datetime) -> Any:
    return sa.and_(
        col(Agreement.effective_from).is_not(None),
        col(Agreement.effective_from) <= at,
        sa.or_(col(Agreement.effective_to).is_(None), col(Agreement.effective_to) > at),
        col(Agreement.valid_from) <= at,
        sa.or_(col(Agreement.valid_to).is_(None), col(Agreement.valid_to) > at),
    )


class AgreementRepository:
    async def get(
        self, session: AsyncSession, subject: AuthSubject, agreement_id: uuid.UUID
    ) -> Agreement | None:
        rows = await session.exec(select(Agreement).where(Agreement.id == agreement_id, readable(subject)))
        return rows.first()

    async def get_for_update(self, session: AsyncSession, agreement_id: uuid.UUID) -> Agreement | None:
        rows = await session.exec(select(Agreement).where(Agreement.id == agreement_id).with_for_update())
        return rows.first()

    async def add(self, session: AsyncSession, agreement: Agreement) -> Agreement:
        session.add(agreement)
        await session.flush()
        return agreement

    async def next_version(self, session: AsyncSession, series_id: uuid.UUID) -> int:
        found = (
            await session.exec(select(func.max(Agreement.version)).where(Agreement.series_id == series_id))
        ).one()
        return int(found or 0) + 1

    async def active_in_series(self, session: AsyncSession, series_id: uuid.UUID) -> list[Agreement]:
        rows = await session.exec(
            select(Agreement)
            .where(Agreement.series_id == series_id, Agreement.status == AgreementStatus.ACTIVE.value)
            .with_for_update()
        )
        return list(rows.all())

    async def between(
        self, session: AsyncSession, subject: AuthSubject, keys: Sequence[str], at: datetime | None
    ) -> list[Agreement]:
        statement = select(Agreement).where(col(Agreement.party_key).in_(list(keys)), readable(subject))
        if at is not None:
            statement = statement.where(_in_force(at))
        rows = await session.exec(statement.order_by(col(Agreement.created_at).desc()).limit(200))
        return list(rows.all())

    async def in_force(self, session: AsyncSession, keys: Sequence[str], at: datetime) -> list[Agreement]:
        """Agreements in force at `at` on these party keys (for a referral's precondition)."""
        rows = await session.exec(
            select(Agreement)
            .where(col(Agreement.party_key).in_(list(keys)), _in_force(at))
            .order_by(col(Agreement.version).desc())
        )
        return list(rows.all())

    async def page(
        self,
        session: AsyncSession,
        subject: AuthSubject,
        *,
        status: str | None,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[Agreement]:
        statement = select(Agreement).where(readable(subject))
        if status:
            statement = statement.where(Agreement.status == status)
        if after is not None:
            statement = statement.where(
                sa.tuple_(col(Agreement.created_at), col(Agreement.id)) < sa.tuple_(*after)
            )
        rows = await session.exec(
            statement.order_by(col(Agreement.created_at).desc(), col(Agreement.id).desc()).limit(limit + 1)
        )
        return list(rows.all())


agreement_repository = AgreementRepository()
