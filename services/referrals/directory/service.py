"""Directory logic: the HSDS import (validation, who may write what, events) and the read
representations the HSDS API returns."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from typing import Any

from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from passage.auth import AuthSubject, Role
from passage.contracts.referrals import DirectoryChanged
from passage.errors import Forbidden, NotFound, Unprocessable
from services.referrals.directory.importer import (
    ParsedDataset,
    check_references,
    location_row,
    organization_row,
    parse_dataset,
    referenced_ids,
    service_row,
    site_row,
    utcnow,
)
from services.referrals.directory.models import (
    Location,
    Organization,
    Service,
    ServiceAtLocation,
    Taxonomy,
    TaxonomyTerm,
)
from services.referrals.directory.repository import ServiceQuery
from services.referrals.directory.repository import directory_repository as repo
from services.referrals.directory.schemas import Capacity, HsdsDataset, HsdsPage, ImportReport
from services.referrals.events import outbox

_MODELS: dict[str, type[SQLModel]] = {
    "organization": Organization,
    "location": Location,
    "service": Service,
    "taxonomy_term": TaxonomyTerm,
    "taxonomy": Taxonomy,
}
_EVENT_CHUNK = 500


class DirectoryImporter:
    """Who may import: a coordinator (the network's directory), or an agency_admin for the
    organizations their agency manages (new ones become theirs). `importer=None` is the operator's
    CLI, trusted like a coordinator."""

    async def run(
        self,
        session: AsyncSession,
        dataset: HsdsDataset,
        *,
        importer: AuthSubject | None,
        dry_run: bool = False,
    ) -> ImportReport:
        parsed = parse_dataset(dataset)
        refs = referenced_ids(parsed)
        known = {
            entity: await repo.existing_ids(session, _MODELS[entity], ids) for entity, ids in refs.items()
        }
        check_references(parsed, known=lambda entity: known[entity])
        if parsed.errors:
            raise Unprocessable(
                f"The dataset has {len(parsed.errors)} invalid record field(s)"
                f"{' (first 200 listed)' if len(parsed.errors) >= 200 else ''}; nothing was imported",
                errors=parsed.errors,
            )
        managers = await repo.organization_managers(
            session,
            set(parsed.organizations)
            | {s.organization_id for _, s in parsed.services.values() if s.organization_id},
        )
        self._authorise(parsed, managers, importer)
        report = ImportReport(
            dry_run=dry_run,
            organizations=len(parsed.organizations),
            services=len(parsed.services),
            locations=len(parsed.locations),
            service_at_locations=len(parsed.sites),
            taxonomies=len(parsed.taxonomies),
            taxonomy_terms=len(parsed.terms),
        )
        if dry_run:
            return report
        await self._write(session, parsed, managers, importer)
        return report

    def _authorise(
        self, parsed: ParsedDataset, managers: dict[uuid.UUID, str | None], importer: AuthSubject | None
    ) -> None:
        if importer is None or importer.has_any_role({Role.COORDINATOR.value}):
            return
        errors: list[dict[str, str]] = []
        for where, org in parsed.organizations.values():
            manager = managers.get(org.id)
            if manager is not None and manager != importer.agency:
                errors.append(_forbidden(where, org.id, "id", f"this organization is managed by {manager}"))
            if org.agency_id is not None and org.agency_id != importer.agency:
                errors.append(
                    _forbidden(
                        where,
                        org.id,
                        "agency_id",
                        "an agency admin may link organizations only to their own agency",
                    )
                )
        for where, service in parsed.services.values():
            if service.organization_id in parsed.organizations:
                continue
            manager = managers.get(service.organization_id) if service.organization_id else None
            if manager != importer.agency:
                errors.append(
                    _forbidden(
                        where,
                        service.id,
                        "organization_id",
                        "the service's organization is not managed by your agency",
                    )
                )
        if parsed.taxonomies or parsed.terms:
            errors.append(
                _forbidden("taxonomies", "", "", "the shared taxonomy is imported by a coordinator")
            )
        if errors:
            raise Forbidden(
                "This import writes directory records your agency does not manage", errors=errors[:200]
            )

    async def _write(
        self,
        session: AsyncSession,
        parsed: ParsedDataset,
        managers: dict[uuid.UUID, str | None],
        importer: AuthSubject | None,
    ) -> None:
        now = utcnow()
        default_manager = importer.agency if importer is not None and importer.agency != "passage" else None
        await repo.upsert(session, Taxonomy, [t.model_dump() for _, t in parsed.taxonomies.values()])
        # Parents before children: terms sorted so that a parent in the same dataset comes first
        # does not matter (no foreign keys), the reference check above already held them together.
        await repo.upsert(session, TaxonomyTerm, [t.model_dump() for _, t in parsed.terms.values()])
        await repo.upsert(
            session,
            Organization,
            [
                organization_row(o, managed_by=managers.get(o.id) or default_manager, now=now)
                for _, o in parsed.organizations.values()
            ],
        )
        await repo.upsert(
            session, Location, [location_row(loc, now=now) for _, loc in parsed.locations.values()]
        )
        await repo.upsert(session, Service, [service_row(s, now=now) for _, s in parsed.services.values()])
        nested_owners = [s.id for _, s in parsed.services.values() if s.service_at_locations]
        await repo.replace_service_at_locations(
            session, nested_owners, [site.id for _, site in parsed.sites.values()]
        )
        await repo.upsert(
            session, ServiceAtLocation, [site_row(x, now=now) for _, x in parsed.sites.values()]
        )
        for entity, ids in (
            ("organization", parsed.organizations),
            ("service", parsed.services),
            ("location", parsed.locations),
            ("service_at_location", parsed.sites),
            ("taxonomy", set(parsed.terms) | set(parsed.taxonomies)),
        ):
            await _announce(session, entity, [str(i) for i in ids])

    async def set_capacity(
        self, session: AsyncSession, subject: AuthSubject, service_id: uuid.UUID, capacity: Capacity
    ) -> dict[str, Any]:
        service = await repo.get(session, Service, service_id)
        if service is None:
            raise NotFound(f"No service {service_id} in the directory")
        org = await repo.get(session, Organization, service.organization_id)
        runs_it = org is not None and subject.agency in (org.agency_id, org.managed_by)
        if not (runs_it or subject.has_any_role({Role.COORDINATOR.value})):
            raise Forbidden("Only the agency that runs this service (or a coordinator) updates its capacity")
        values = capacity.model_dump(exclude_unset=True, exclude={"updated_at"})
        values["capacity_updated_at"] = capacity.updated_at or utcnow()
        values["updated_at"] = utcnow()
        await repo.update_capacity(session, service_id, values)
        await _announce(session, "service", [str(service_id)])
        return await directory_reader.service(session, service_id)


async def _announce(session: AsyncSession, entity: str, ids: Sequence[str]) -> None:
    for start in range(0, len(ids), _EVENT_CHUNK):
        await outbox.add(
            session,
            DirectoryChanged(entity=entity, ids=list(ids[start : start + _EVENT_CHUNK]), change="upserted"),
            subject=f"directory/{entity}",
        )


def _forbidden(where: str, record: object, field_name: str, message: str) -> dict[str, str]:
    label = f"{where}.{field_name}" if field_name else where
    return {"field": label, "record": str(record), "message": message, "code": "forbidden"}


# --- reading ------------------------------------------------------------------------------------


def _plain(row: SQLModel, *, exclude: set[str] = frozenset()) -> dict[str, Any]:  # type: ignore[assignment]
    return row.model_dump(mode="json", exclude=exclude)


def organization_out(org: Organization) -> dict[str, Any]:
    return _plain(org, exclude={"managed_by"})


def location_out(location: Location) -> dict[str, Any]:
    return _plain(location)


def term_out(term: TaxonomyTerm) -> dict[str, Any]:
    return _plain(term)


_SERVICE_INTERNAL = {
    "language_codes",
    "area_codes",
    "taxonomy_term_ids",
    "open_slots",
    "waiting_time_days",
    "capacity_updated_at",
    "search",
    "mentors",
}


def page(items: list[Any], *, total: int, page_number: int, per_page: int) -> HsdsPage[Any]:
    pages = max(1, math.ceil(total / per_page)) if per_page else 1
    return HsdsPage[Any](
        total_items=total,
        total_pages=pages,
        page_number=page_number,
        size=len(items),
        first_page=page_number == 1,
        last_page=page_number >= pages,
        empty=not items,
        contents=items,
    )


class DirectoryReader:
    async def services(
        self, session: AsyncSession, query: ServiceQuery, *, page_number: int, per_page: int
    ) -> HsdsPage[Any]:
        total, rows = await repo.search_services(session, query, page=page_number, per_page=per_page)
        return page(await self._full(session, rows), total=total, page_number=page_number, per_page=per_page)

    async def service(self, session: AsyncSession, service_id: uuid.UUID) -> dict[str, Any]:
        row = await repo.get(session, Service, service_id)
        if row is None:
            raise NotFound(f"No service {service_id} in the directory")
        return (await self._full(session, [row]))[0]

    async def _full(self, session: AsyncSession, rows: Sequence[Service]) -> list[dict[str, Any]]:
        """Services with their organization, sites (with locations), and attributes' terms: four
        queries for a whole page, however long."""
        orgs = await repo.by_ids(session, Organization, {r.organization_id for r in rows})
        sites = await repo.sites_of(session, [r.id for r in rows])
        locations = await repo.by_ids(session, Location, {s.location_id for s in sites})
        term_ids = {uuid.UUID(t) for r in rows for t in r.taxonomy_term_ids}
        terms = await repo.by_ids(session, TaxonomyTerm, term_ids)
        by_service: dict[uuid.UUID, list[dict[str, Any]]] = {}
        for site in sites:
            body = _plain(site)
            location = locations.get(site.location_id)
            body["location"] = location_out(location) if location else None
            by_service.setdefault(site.service_id, []).append(body)
        out = []
        for row in rows:
            body = _plain(row, exclude=_SERVICE_INTERNAL)
            org = orgs.get(row.organization_id)
            body["organization"] = organization_out(org) if org else None
            body["service_at_locations"] = by_service.get(row.id, [])
            for attribute in body["attributes"]:
                term = terms.get(uuid.UUID(attribute["taxonomy_term_id"]))
                attribute["taxonomy_term"] = term_out(term) if term else None
            body["capacity"] = {
                "open_slots": row.open_slots,
                "waiting_time_days": row.waiting_time_days,
                "updated_at": row.capacity_updated_at.isoformat() if row.capacity_updated_at else None,
            }
            if row.mentors is not None:
                body["mentors"] = row.mentors
            out.append(body)
        return out

    async def organization(self, session: AsyncSession, org_id: uuid.UUID) -> dict[str, Any]:
        org = await repo.get(session, Organization, org_id)
        if org is None:
            raise NotFound(f"No organization {org_id} in the directory")
        body = organization_out(org)
        _, services = await repo.search_services(
            session, ServiceQuery(organization_id=org_id), page=1, per_page=200
        )
        body["services"] = [{"id": str(s.id), "name": s.name, "status": s.status} for s in services]
        return body

    async def find_service(
        self, session: AsyncSession, service_id: uuid.UUID
    ) -> tuple[Service, Organization | None]:
        """For a referral: the service and the organization (agency) that runs it."""
        found = await repo.service_with_organization(session, service_id)
        if found is None:
            raise NotFound(f"No service {service_id} in the directory")
        return found


directory_importer = DirectoryImporter()
directory_reader = DirectoryReader()
