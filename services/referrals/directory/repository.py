"""Every directory query. The directory is not personal data: any authenticated caller reads it;
writing is the importer's, whose rule (who may overwrite an organization) is checked in service.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import SQLModel, col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.referrals.directory.models import (
    Location,
    Organization,
    Service,
    ServiceAtLocation,
    Taxonomy,
    TaxonomyTerm,
)

M = TypeVar("M", bound=SQLModel)


@dataclass(frozen=True)
class ServiceQuery:
    search: str | None = None
    taxonomy_term_id: uuid.UUID | None = None
    organization_id: uuid.UUID | None = None
    language: str | None = None
    area: str | None = None
    status: str | None = None
    modified_after: datetime | None = None


class DirectoryRepository:
    async def upsert(
        self, session: AsyncSession, model: type[SQLModel], rows: Sequence[dict[str, Any]]
    ) -> None:
        """Insert or replace records by id, in chunks that stay under PostgreSQL's parameter limit."""
        if not rows:
            return
        table: sa.Table = model.__table__  # type: ignore[attr-defined]
        columns = [c.name for c in table.columns if c.computed is None]
        chunk = max(1, 30_000 // len(columns))
        for start in range(0, len(rows), chunk):
            part = [{c: row.get(c) for c in columns if c in row} for row in rows[start : start + chunk]]
            statement = insert(table).values(part)
            updates = {c: statement.excluded[c] for c in part[0] if c != "id"}
            await session.exec(statement.on_conflict_do_update(index_elements=["id"], set_=updates))

    async def replace_service_at_locations(
        self, session: AsyncSession, service_ids: Sequence[uuid.UUID], keep: Sequence[uuid.UUID]
    ) -> None:
        """A re-imported service's sites are the ones the import lists: drop the others."""
        if not service_ids:
            return
        await session.exec(
            sa.delete(ServiceAtLocation).where(
                col(ServiceAtLocation.service_id).in_(service_ids), col(ServiceAtLocation.id).not_in(keep)
            )
        )

    async def existing_ids(
        self, session: AsyncSession, model: type[M], ids: Iterable[uuid.UUID]
    ) -> set[uuid.UUID]:
        wanted = list(set(ids))
        if not wanted:
            return set()
        found: set[uuid.UUID] = set()
        id_col = col(model.id)  # type: ignore[attr-defined]
        for start in range(0, len(wanted), 5000):
            rows = await session.exec(select(id_col).where(id_col.in_(wanted[start : start + 5000])))
            found.update(rows.all())
        return found

    async def organization_managers(
        self, session: AsyncSession, ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, str | None]:
        wanted = list(set(ids))
        if not wanted:
            return {}
        rows = await session.exec(
            select(Organization.id, Organization.managed_by).where(col(Organization.id).in_(wanted))
        )
        return {row[0]: row[1] for row in rows.all()}

    async def get(self, session: AsyncSession, model: type[M], record_id: uuid.UUID) -> M | None:
        return await session.get(model, record_id)

    async def service_with_organization(
        self, session: AsyncSession, service_id: uuid.UUID
    ) -> tuple[Service, Organization | None] | None:
        """A service and the organization running it, in one query (a referral asks this each time)."""
        rows = await session.exec(
            select(Service, Organization)
            .join(Organization, col(Organization.id) == col(Service.organization_id), isouter=True)
            .where(col(Service.id) == service_id)
        )
        found = rows.first()
        return (found[0], found[1]) if found is not None else None

    async def by_ids(
        self, session: AsyncSession, model: type[M], ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, M]:
        wanted = list(set(ids))
        if not wanted:
            return {}
        rows = await session.exec(select(model).where(col(model.id).in_(wanted)))  # type: ignore[attr-defined]
        return {row.id: row for row in rows.all()}  # type: ignore[attr-defined]

    async def sites_of(
        self, session: AsyncSession, service_ids: Iterable[uuid.UUID]
    ) -> list[ServiceAtLocation]:
        wanted = list(set(service_ids))
        if not wanted:
            return []
        rows = await session.exec(
            select(ServiceAtLocation)
            .where(col(ServiceAtLocation.service_id).in_(wanted))
            .order_by(col(ServiceAtLocation.id))
        )
        return list(rows.all())

    async def search_services(
        self, session: AsyncSession, query: ServiceQuery, *, page: int, per_page: int
    ) -> tuple[int, list[Service]]:
        conditions: list[Any] = []
        if query.search:
            conditions.append(
                sa.or_(
                    col(Service.search).op("@@")(func.websearch_to_tsquery("simple", query.search)),
                    col(Service.name).ilike(f"%{_escape_like(query.search)}%", escape="\\"),
                )
            )
        if query.taxonomy_term_id is not None:
            conditions.append(col(Service.taxonomy_term_ids).contains([str(query.taxonomy_term_id)]))
        if query.organization_id is not None:
            conditions.append(col(Service.organization_id) == query.organization_id)
        if query.language:
            conditions.append(col(Service.language_codes).contains([query.language.lower()]))
        if query.area:
            conditions.append(col(Service.area_codes).contains([query.area.lower()]))
        if query.status:
            conditions.append(col(Service.status) == query.status)
        if query.modified_after is not None:
            conditions.append(col(Service.updated_at) > query.modified_after)
        total = (await session.exec(select(func.count()).select_from(Service).where(*conditions))).one()
        rows = await session.exec(
            select(Service)
            .where(*conditions)
            .order_by(col(Service.name), col(Service.id))
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
        return int(total), list(rows.all())

    async def page_of(
        self,
        session: AsyncSession,
        model: type[M],
        *,
        page: int,
        per_page: int,
        filters: Sequence[Any] = (),
        order_by: Any = None,
    ) -> tuple[int, list[M]]:
        total = (await session.exec(select(func.count()).select_from(model).where(*filters))).one()
        order = order_by if order_by is not None else col(model.id)  # type: ignore[attr-defined]
        rows = await session.exec(
            select(model).where(*filters).order_by(order).offset((page - 1) * per_page).limit(per_page)
        )
        return int(total), list(rows.all())

    async def organizations(
        self, session: AsyncSession, *, search: str | None, page: int, per_page: int
    ) -> tuple[int, list[Organization]]:
        filters = []
        if search:
            filters.append(col(Organization.name).ilike(f"%{_escape_like(search)}%", escape="\\"))
        return await self.page_of(
            session,
            Organization,
            page=page,
            per_page=per_page,
            filters=filters,
            order_by=col(Organization.name),
        )

    async def locations(
        self, session: AsyncSession, *, organization_id: uuid.UUID | None, page: int, per_page: int
    ) -> tuple[int, list[Location]]:
        filters = [col(Location.organization_id) == organization_id] if organization_id else []
        return await self.page_of(session, Location, page=page, per_page=per_page, filters=filters)

    async def taxonomy_terms(
        self,
        session: AsyncSession,
        *,
        taxonomy_id: uuid.UUID | None,
        parent_id: uuid.UUID | None,
        search: str | None,
        page: int,
        per_page: int,
    ) -> tuple[int, list[TaxonomyTerm]]:
        filters: list[Any] = []
        if taxonomy_id is not None:
            filters.append(col(TaxonomyTerm.taxonomy_id) == taxonomy_id)
        if parent_id is not None:
            filters.append(col(TaxonomyTerm.parent_id) == parent_id)
        if search:
            filters.append(col(TaxonomyTerm.name).ilike(f"%{_escape_like(search)}%", escape="\\"))
        return await self.page_of(
            session,
            TaxonomyTerm,
            page=page,
            per_page=per_page,
            filters=filters,
            order_by=col(TaxonomyTerm.name),
        )

    async def taxonomies(
        self, session: AsyncSession, *, page: int, per_page: int
    ) -> tuple[int, list[Taxonomy]]:
        return await self.page_of(
            session, Taxonomy, page=page, per_page=per_page, order_by=col(Taxonomy.name)
        )

    async def service_at_locations(
        self, session: AsyncSession, *, service_id: uuid.UUID | None, page: int, per_page: int
    ) -> tuple[int, list[ServiceAtLocation]]:
        filters = [col(ServiceAtLocation.service_id) == service_id] if service_id else []
        return await self.page_of(session, ServiceAtLocation, page=page, per_page=per_page, filters=filters)

    async def update_capacity(
        self, session: AsyncSession, service_id: uuid.UUID, values: dict[str, Any]
    ) -> Service | None:
        service = await session.get(Service, service_id)
        if service is None:
            return None
        for key, value in values.items():
            setattr(service, key, value)
        session.add(service)
        await session.flush()
        return service


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


directory_repository = DirectoryRepository()
