"""Every query of scoring's tables. Client-level data is reached only through `readable_client`,
where the agency scope lives: the client's own agency, or a Passage component (role `service`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from passage.auth import AuthSubject, Role
from services.scoring.models import (
    CasePlan,
    ClientRecord,
    DirectoryService,
    ReintegrationScore,
    ScheduledAssessment,
    Triage,
)


class ClientRepository:
    def readable(self, subject: AuthSubject) -> SelectOfScalar[ClientRecord]:
        query = select(ClientRecord)
        if Role.SERVICE.value in subject.roles:
            return query
        return query.where(ClientRecord.agency_id == subject.agency)

    async def readable_client(
        self, session: AsyncSession, subject: AuthSubject, client_id: uuid.UUID
    ) -> ClientRecord | None:
        query = self.readable(subject).where(ClientRecord.client_id == client_id)
        return (await session.exec(query)).first()

    async def remember(
        self, session: AsyncSession, *, client_id: uuid.UUID, agency_id: str, status: str | None = None
    ) -> None:
        """Record (or move) the agency holding a client's file."""
        now = datetime.now(UTC)
        changes: dict[str, Any] = {"agency_id": agency_id, "updated_at": now}
        if status is not None:
            changes["status"] = status
        statement = insert(ClientRecord).values(
            client_id=client_id, agency_id=agency_id, status=status or "open", updated_at=now
        )
        await session.exec(statement.on_conflict_do_update(index_elements=["client_id"], set_=changes))


class ScoreRepository:
    async def add(self, session: AsyncSession, score: ReintegrationScore) -> bool:
        """Store a score unless its assessment was scored already (a redelivered event)."""
        statement = (
            insert(ReintegrationScore)
            .values(**score.model_dump())
            .on_conflict_do_nothing(index_elements=["assessment_id"])
            .returning(col(ReintegrationScore.id))
        )
        return (await session.exec(statement)).first() is not None

    async def previous(self, session: AsyncSession, score: ReintegrationScore) -> ReintegrationScore | None:
        """The client's score just before this one in time of assessment."""
        query = (
            select(ReintegrationScore)
            .where(
                ReintegrationScore.client_id == score.client_id,
                ReintegrationScore.id != score.id,
                col(ReintegrationScore.assessed_at) <= score.assessed_at,
            )
            .order_by(col(ReintegrationScore.assessed_at).desc(), col(ReintegrationScore.created_at).desc())
            .limit(1)
        )
        return (await session.exec(query)).first()

    async def latest(self, session: AsyncSession, client_id: uuid.UUID) -> ReintegrationScore | None:
        query = (
            select(ReintegrationScore)
            .where(ReintegrationScore.client_id == client_id)
            .order_by(col(ReintegrationScore.assessed_at).desc(), col(ReintegrationScore.created_at).desc())
            .limit(1)
        )
        return (await session.exec(query)).first()

    async def history(self, session: AsyncSession, client: ClientRecord) -> Sequence[ReintegrationScore]:
        query = (
            select(ReintegrationScore)
            .where(ReintegrationScore.client_id == client.client_id)
            .order_by(col(ReintegrationScore.assessed_at), col(ReintegrationScore.created_at))
        )
        return (await session.exec(query)).all()


class TriageRepository:
    async def get(self, session: AsyncSession, client_id: uuid.UUID) -> Triage | None:
        return await session.get(Triage, client_id)

    async def save(self, session: AsyncSession, triage: Triage) -> None:
        values = triage.model_dump()
        statement = insert(Triage).values(**values)
        await session.exec(
            statement.on_conflict_do_update(
                index_elements=["client_id"], set_={k: v for k, v in values.items() if k != "client_id"}
            )
        )


class CasePlanRepository:
    async def get(self, session: AsyncSession, client_id: uuid.UUID) -> CasePlan | None:
        return await session.get(CasePlan, client_id)

    async def save(self, session: AsyncSession, plan: CasePlan) -> None:
        values = plan.model_dump()
        statement = insert(CasePlan).values(**values)
        await session.exec(
            statement.on_conflict_do_update(
                index_elements=["client_id"], set_={k: v for k, v in values.items() if k != "client_id"}
            )
        )


class ScheduleRepository:
    async def for_client(self, session: AsyncSession, client: ClientRecord) -> Sequence[ScheduledAssessment]:
        query = (
            select(ScheduledAssessment)
            .where(ScheduledAssessment.client_id == client.client_id)
            .order_by(col(ScheduledAssessment.due_on), col(ScheduledAssessment.instrument))
        )
        return (await session.exec(query)).all()

    async def items(self, session: AsyncSession, client_id: uuid.UUID) -> Sequence[ScheduledAssessment]:
        """For the service's own bookkeeping (no caller): every item of the client."""
        query = select(ScheduledAssessment).where(ScheduledAssessment.client_id == client_id)
        return (await session.exec(query)).all()

    async def get(self, session: AsyncSession, item_id: uuid.UUID) -> ScheduledAssessment | None:
        return await session.get(ScheduledAssessment, item_id)

    async def schedule(self, session: AsyncSession, item: ScheduledAssessment) -> None:
        """Insert unless the client already has this round of this instrument."""
        await session.exec(insert(ScheduledAssessment).values(**item.model_dump()).on_conflict_do_nothing())

    async def put(self, session: AsyncSession, item: ScheduledAssessment) -> uuid.UUID | None:
        """Insert, or move the pending item of the same round to the new date: its id, or None when
        that round is no longer pending (it fell due or was held) and stays as it is."""
        values = item.model_dump()
        statement = insert(ScheduledAssessment).values(**values)
        upsert = statement.on_conflict_do_update(
            index_elements=["client_id", "instrument", "round"],
            set_={"due_on": item.due_on, "kind": item.kind, "month": item.month, "agency_id": item.agency_id},
            where=col(ScheduledAssessment.status) == "pending",
        ).returning(col(ScheduledAssessment.id))
        row = (await session.execute(upsert)).first()
        return row[0] if row is not None else None

    async def set_status(
        self, session: AsyncSession, item_id: uuid.UUID, status: str, *, fell_due: bool = False
    ) -> None:
        values: dict[str, Any] = {"status": status}
        if fell_due:
            values["fell_due_at"] = datetime.now(UTC)
        await session.exec(
            update(ScheduledAssessment).where(col(ScheduledAssessment.id) == item_id).values(**values)
        )

    async def remove(self, session: AsyncSession, item_id: uuid.UUID) -> None:
        await session.exec(delete(ScheduledAssessment).where(col(ScheduledAssessment.id) == item_id))


class DirectoryRepository:
    """The directory is not personal data: no agency scope."""

    async def put(self, session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
        """Upsert projections in service-id order (concurrent writers lock rows in the same order, so
        they never deadlock); a row fetched from an older version of the service is not written."""
        fetched_at = datetime.now(UTC)
        ordered = sorted(rows, key=lambda r: str(r["service_id"]))
        for start in range(0, len(ordered), 500):
            chunk = [{**row, "fetched_at": fetched_at} for row in ordered[start : start + 500]]
            statement = insert(DirectoryService).values(chunk)
            current = DirectoryService.__table__.c  # type: ignore[attr-defined]
            newer = (
                current.source_updated_at.is_(None)
                | statement.excluded.source_updated_at.is_(None)
                | (current.source_updated_at <= statement.excluded.source_updated_at)
            )
            await session.exec(
                statement.on_conflict_do_update(
                    index_elements=["service_id"],
                    set_={k: statement.excluded[k] for k in chunk[0] if k != "service_id"},
                    where=newer,
                )
            )

    async def remove(self, session: AsyncSession, service_ids: Sequence[str]) -> None:
        if service_ids:
            await session.exec(
                delete(DirectoryService).where(col(DirectoryService.service_id).in_(sorted(service_ids)))
            )

    async def ids_of_organizations(self, session: AsyncSession, organization_ids: Sequence[str]) -> list[str]:
        query = select(DirectoryService.service_id).where(
            col(DirectoryService.organization_id).in_(organization_ids)
        )
        return list((await session.exec(query)).all())

    async def all_ids(self, session: AsyncSession) -> set[str]:
        return set((await session.exec(select(DirectoryService.service_id))).all())

    async def active(
        self, session: AsyncSession, *, mentoring_only: bool = False
    ) -> Sequence[DirectoryService]:
        query = select(DirectoryService).where(DirectoryService.status == "active")
        if mentoring_only:
            query = query.where(func.jsonb_array_length(col(DirectoryService.mentors)) > 0)
        return (await session.exec(query.order_by(col(DirectoryService.service_id)))).all()
