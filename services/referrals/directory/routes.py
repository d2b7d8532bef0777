"""The HSDS 3.0 read API and the import endpoint. HTTP only."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from passage.auth import AuthSubject, CurrentSubject, Role, require_roles
from passage.db import SessionDep
from passage.errors import NotFound
from services.referrals.directory.models import Location, ServiceAtLocation, TaxonomyTerm
from services.referrals.directory.repository import ServiceQuery, directory_repository
from services.referrals.directory.schemas import (
    Capacity,
    HsdsDataset,
    HsdsObject,
    HsdsPage,
    ImportReport,
    LanguageCode,
    ServiceStatus,
)
from services.referrals.directory.service import (
    directory_importer,
    directory_reader,
    location_out,
    organization_out,
    page,
    term_out,
)
from services.referrals.models import require_storable

router = APIRouter(prefix="/v1/hsds", tags=["directory"])

DirectoryAdmin = Annotated[AuthSubject, Depends(require_roles(Role.AGENCY_ADMIN, Role.COORDINATOR))]
DirectoryEditor = Annotated[
    AuthSubject,
    Depends(require_roles(Role.AGENCY_ADMIN, Role.COORDINATOR, Role.SUPERVISOR, Role.CASE_WORKER)),
]
PageNumber = Annotated[int, Query(ge=1, le=100_000, description="1-based page number (HSDS)")]
PerPage = Annotated[int, Query(ge=1, le=100, description="Records per page (HSDS), at most 100")]
SearchText = Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]

_READ: dict[int | str, dict[str, Any]] = {
    400: {"description": "A query parameter is out of range"},
    401: {"description": "No valid bearer token"},
    422: {"description": "A query parameter is not valid"},
}
_ONE: dict[int | str, dict[str, Any]] = {**_READ, 404: {"description": "No such record in the directory"}}


@router.get(
    "/services",
    response_model=HsdsPage[HsdsObject],
    summary="Search the service directory (HSDS `GET /services`)",
    description="Filters combine with AND: free text (`search`), `taxonomy_term_id`, `language` (a BCP 47 "
    "code; `fr` also finds `fr-CA`), `area` (a service area's name or code), `organization_id`, `status`, "
    "`modified_after`. Each item is the full service object, as `GET /services/{id}` returns it.",
    responses=_READ,
)
async def search_services(
    _: CurrentSubject,
    session: SessionDep,
    search: SearchText = None,
    taxonomy_term_id: uuid.UUID | None = None,
    organization_id: uuid.UUID | None = None,
    language: Annotated[LanguageCode | None, Query(max_length=35)] = None,
    area: SearchText = None,
    status: ServiceStatus | None = None,
    modified_after: datetime | None = None,
    page: PageNumber = 1,
    per_page: PerPage = 25,
) -> HsdsPage[Any]:
    require_storable("modified_after", modified_after)
    query = ServiceQuery(
        search=search or None,
        taxonomy_term_id=taxonomy_term_id,
        organization_id=organization_id,
        language=language,
        area=area or None,
        status=status.value if status else None,
        modified_after=modified_after,
    )
    return await directory_reader.services(session, query, page_number=page, per_page=per_page)


@router.get(
    "/services/{service_id}",
    response_model=HsdsObject,
    summary="One service, with its organization, sites, languages, attributes, capacity and mentors",
    responses=_ONE,
)
async def get_service(service_id: uuid.UUID, _: CurrentSubject, session: SessionDep) -> dict[str, Any]:
    return await directory_reader.service(session, service_id)


@router.put(
    "/services/{service_id}/capacity",
    response_model=HsdsObject,
    summary="Update a service's capacity (open slots, waiting time): the agency that runs it",
    responses={**_ONE, 403: {"description": "The caller's agency does not run this service"}},
)
async def set_capacity(
    service_id: uuid.UUID, body: Capacity, subject: DirectoryEditor, session: SessionDep
) -> dict[str, Any]:
    return await directory_importer.set_capacity(session, subject, service_id, body)


@router.get(
    "/organizations",
    response_model=HsdsPage[HsdsObject],
    summary="Organizations in the directory (HSDS `GET /organizations`)",
    responses=_READ,
)
async def list_organizations(
    _: CurrentSubject,
    session: SessionDep,
    search: SearchText = None,
    page: PageNumber = 1,
    per_page: PerPage = 25,
) -> HsdsPage[Any]:
    total, rows = await directory_repository.organizations(
        session, search=search, page=page, per_page=per_page
    )
    return _page([organization_out(r) for r in rows], total, page, per_page)


@router.get(
    "/organizations/{organization_id}",
    response_model=HsdsObject,
    summary="One organization, with the list of its services",
    responses=_ONE,
)
async def get_organization(
    organization_id: uuid.UUID, _: CurrentSubject, session: SessionDep
) -> dict[str, Any]:
    return await directory_reader.organization(session, organization_id)


@router.get("/locations", response_model=HsdsPage[HsdsObject], summary="Locations (HSDS)", responses=_READ)
async def list_locations(
    _: CurrentSubject,
    session: SessionDep,
    organization_id: uuid.UUID | None = None,
    page: PageNumber = 1,
    per_page: PerPage = 25,
) -> HsdsPage[Any]:
    total, rows = await directory_repository.locations(
        session, organization_id=organization_id, page=page, per_page=per_page
    )
    return _page([location_out(r) for r in rows], total, page, per_page)


@router.get("/locations/{location_id}", response_model=HsdsObject, summary="One location", responses=_ONE)
async def get_location(location_id: uuid.UUID, _: CurrentSubject, session: SessionDep) -> dict[str, Any]:
    row = await directory_repository.get(session, Location, location_id)
    if row is None:
        raise NotFound(f"No location {location_id} in the directory")
    return location_out(row)


@router.get(
    "/service_at_locations",
    response_model=HsdsPage[HsdsObject],
    summary="Where services are delivered (HSDS service_at_location)",
    responses=_READ,
)
async def list_service_at_locations(
    _: CurrentSubject,
    session: SessionDep,
    service_id: uuid.UUID | None = None,
    page: PageNumber = 1,
    per_page: PerPage = 25,
) -> HsdsPage[Any]:
    total, rows = await directory_repository.service_at_locations(
        session, service_id=service_id, page=page, per_page=per_page
    )
    return _page([r.model_dump(mode="json") for r in rows], total, page, per_page)


@router.get(
    "/service_at_locations/{site_id}",
    response_model=HsdsObject,
    summary="One service_at_location",
    responses=_ONE,
)
async def get_service_at_location(
    site_id: uuid.UUID, _: CurrentSubject, session: SessionDep
) -> dict[str, Any]:
    row = await directory_repository.get(session, ServiceAtLocation, site_id)
    if row is None:
        raise NotFound(f"No service_at_location {site_id} in the directory")
    body = row.model_dump(mode="json")
    location = await directory_repository.get(session, Location, row.location_id)
    body["location"] = location_out(location) if location else None
    return body


@router.get("/taxonomies", response_model=HsdsPage[HsdsObject], summary="Taxonomies (HSDS)", responses=_READ)
async def list_taxonomies(
    _: CurrentSubject, session: SessionDep, page: PageNumber = 1, per_page: PerPage = 25
) -> HsdsPage[Any]:
    total, rows = await directory_repository.taxonomies(session, page=page, per_page=per_page)
    return _page([r.model_dump(mode="json") for r in rows], total, page, per_page)


@router.get(
    "/taxonomy_terms",
    response_model=HsdsPage[HsdsObject],
    summary="Taxonomy terms (HSDS); filter by taxonomy, parent (the hierarchy) or text",
    responses=_READ,
)
async def list_taxonomy_terms(
    _: CurrentSubject,
    session: SessionDep,
    taxonomy_id: uuid.UUID | None = None,
    parent_id: uuid.UUID | None = None,
    search: SearchText = None,
    page: PageNumber = 1,
    per_page: PerPage = 25,
) -> HsdsPage[Any]:
    total, rows = await directory_repository.taxonomy_terms(
        session, taxonomy_id=taxonomy_id, parent_id=parent_id, search=search, page=page, per_page=per_page
    )
    return _page([term_out(r) for r in rows], total, page, per_page)


@router.get(
    "/taxonomy_terms/{term_id}", response_model=HsdsObject, summary="One taxonomy term", responses=_ONE
)
async def get_taxonomy_term(term_id: uuid.UUID, _: CurrentSubject, session: SessionDep) -> dict[str, Any]:
    row = await directory_repository.get(session, TaxonomyTerm, term_id)
    if row is None:
        raise NotFound(f"No taxonomy term {term_id} in the directory")
    return term_out(row)


@router.post(
    "/import",
    response_model=ImportReport,
    summary="Import an HSDS JSON dataset (all or nothing; `dry_run` only validates)",
    description="A coordinator imports anything; an agency_admin imports the organizations their agency "
    "manages (new ones become theirs) and their services, and may link an organization only to their own "
    "agency. Invalid records are listed in `errors`, each naming the record (`services[3]`, its id) and the "
    "field.",
    responses={
        401: {"description": "No valid bearer token"},
        403: {"description": "The dataset writes records the caller's agency does not manage"},
        422: {"description": "Invalid records; `errors` names each record and field"},
    },
)
async def import_directory(
    body: HsdsDataset, subject: DirectoryAdmin, session: SessionDep, dry_run: bool = False
) -> ImportReport:
    return await directory_importer.run(session, body, importer=subject, dry_run=dry_run)


def _page(items: list[Any], total: int, page_number: int, per_page: int) -> HsdsPage[Any]:
    return page(items, total=total, page_number=page_number, per_page=per_page)
