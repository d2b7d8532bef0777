"""Reading an HSDS dataset into rows: each record validated on its own, so that an error names the
record (`services[3]`, its id) and the field; then references checked across the dataset and the
directory already stored."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from services.referrals.directory.schemas import (
    HsdsDataset,
    LocationIn,
    OrganizationIn,
    ServiceAtLocationIn,
    ServiceIn,
    TaxonomyIn,
    TaxonomyTermIn,
)

MAX_ERRORS = 200
R = TypeVar("R", bound=BaseModel)


@dataclass
class ParsedDataset:
    organizations: dict[uuid.UUID, tuple[str, OrganizationIn]] = field(default_factory=dict)
    locations: dict[uuid.UUID, tuple[str, LocationIn]] = field(default_factory=dict)
    services: dict[uuid.UUID, tuple[str, ServiceIn]] = field(default_factory=dict)
    sites: dict[uuid.UUID, tuple[str, ServiceAtLocationIn]] = field(default_factory=dict)
    taxonomies: dict[uuid.UUID, tuple[str, TaxonomyIn]] = field(default_factory=dict)
    terms: dict[uuid.UUID, tuple[str, TaxonomyTermIn]] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)

    def error(self, where: str, record_id: object, field_name: str, message: str, code: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            label = f"{where}.{field_name}" if field_name else where
            self.errors.append(
                {"field": label, "record": str(record_id or ""), "message": message, "code": code}
            )


def parse_dataset(dataset: HsdsDataset) -> ParsedDataset:
    parsed = ParsedDataset()
    _records(parsed, "taxonomies", dataset.taxonomies, TaxonomyIn, parsed.taxonomies)
    _records(parsed, "taxonomy_terms", dataset.taxonomy_terms, TaxonomyTermIn, parsed.terms)
    _records(parsed, "organizations", dataset.organizations, OrganizationIn, parsed.organizations)
    _records(parsed, "locations", dataset.locations, LocationIn, parsed.locations)
    _records(parsed, "services", dataset.services, ServiceIn, parsed.services)
    _records(parsed, "service_at_locations", dataset.service_at_locations, ServiceAtLocationIn, parsed.sites)
    # Nested records (the shape the read API returns) join their top-level lists.
    for where, service in list(parsed.services.values()):
        if service.organization is not None:
            parsed.organizations.setdefault(
                service.organization.id, (f"{where}.organization", service.organization)
            )
        for i, site in enumerate(service.service_at_locations):
            site_where = f"{where}.service_at_locations[{i}]"
            if site.service_id not in (None, service.id):
                parsed.error(
                    site_where, site.id, "service_id", "differs from the enclosing service's id", "mismatch"
                )
            site.service_id = service.id
            parsed.sites.setdefault(site.id, (site_where, site))
    for where, site in list(parsed.sites.values()):
        if site.location is not None:
            parsed.locations.setdefault(site.location.id, (f"{where}.location", site.location))
        if site.service_id is None:
            parsed.error(
                where, site.id, "service_id", "a service_at_location needs its service_id", "missing"
            )
    return parsed


def _records(
    parsed: ParsedDataset,
    where: str,
    raw: Iterable[dict[str, Any]],
    model: type[R],
    into: dict[uuid.UUID, tuple[str, R]],
) -> None:
    for index, item in enumerate(raw):
        label = f"{where}[{index}]"
        record_id = item.get("id") if isinstance(item, dict) else None
        try:
            record = model.model_validate(item)
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(part) for part in err.get("loc", ()))
                parsed.error(label, record_id, loc, err.get("msg", ""), err.get("type", "invalid"))
            continue
        record_uuid: uuid.UUID = record.id  # type: ignore[attr-defined]
        if record_uuid in into:
            parsed.error(label, record_uuid, "id", f"duplicates {into[record_uuid][0]}", "duplicate")
            continue
        into[record_uuid] = (label, record)


def check_references(
    parsed: ParsedDataset,
    *,
    known: Callable[[str], set[uuid.UUID]],
) -> None:
    """`known(entity)` gives the ids of that entity already stored (and referenced by the dataset)."""
    orgs = set(parsed.organizations) | known("organization")
    locations = set(parsed.locations) | known("location")
    services = set(parsed.services) | known("service")
    terms = set(parsed.terms) | known("taxonomy_term")
    taxonomies = set(parsed.taxonomies) | known("taxonomy")
    for where, service in parsed.services.values():
        if service.organization_id not in orgs:
            parsed.error(
                where,
                service.id,
                "organization_id",
                f"no organization {service.organization_id}",
                "unknown_reference",
            )
        for i, attribute in enumerate(service.attributes):
            if attribute.taxonomy_term_id not in terms:
                parsed.error(
                    where,
                    service.id,
                    f"attributes[{i}].taxonomy_term_id",
                    f"no taxonomy term {attribute.taxonomy_term_id}",
                    "unknown_reference",
                )
    for where, site in parsed.sites.values():
        if site.location_id not in locations:
            parsed.error(
                where, site.id, "location_id", f"no location {site.location_id}", "unknown_reference"
            )
        if site.service_id is not None and site.service_id not in services:
            parsed.error(where, site.id, "service_id", f"no service {site.service_id}", "unknown_reference")
    for where, location in parsed.locations.values():
        if location.organization_id is not None and location.organization_id not in orgs:
            parsed.error(
                where,
                location.id,
                "organization_id",
                f"no organization {location.organization_id}",
                "unknown_reference",
            )
    for where, term in parsed.terms.values():
        if term.parent_id is not None and term.parent_id not in terms:
            parsed.error(
                where, term.id, "parent_id", f"no taxonomy term {term.parent_id}", "unknown_reference"
            )
        if term.taxonomy_id is not None and term.taxonomy_id not in taxonomies:
            parsed.error(
                where, term.id, "taxonomy_id", f"no taxonomy {term.taxonomy_id}", "unknown_reference"
            )


def referenced_ids(parsed: ParsedDataset) -> dict[str, set[uuid.UUID]]:
    """Ids the dataset refers to but does not define: look these up in the directory."""
    refs: dict[str, set[uuid.UUID]] = {
        k: set() for k in ("organization", "location", "service", "taxonomy_term", "taxonomy")
    }
    for _, service in parsed.services.values():
        if service.organization_id is not None:
            refs["organization"].add(service.organization_id)
        refs["taxonomy_term"] |= {a.taxonomy_term_id for a in service.attributes}
    for _, site in parsed.sites.values():
        if site.location_id is not None:
            refs["location"].add(site.location_id)
        if site.service_id is not None:
            refs["service"].add(site.service_id)
    for _, location in parsed.locations.values():
        if location.organization_id is not None:
            refs["organization"].add(location.organization_id)
    for _, term in parsed.terms.values():
        if term.parent_id is not None:
            refs["taxonomy_term"].add(term.parent_id)
        if term.taxonomy_id is not None:
            refs["taxonomy"].add(term.taxonomy_id)
    refs["organization"] -= set(parsed.organizations)
    refs["location"] -= set(parsed.locations)
    refs["service"] -= set(parsed.services)
    refs["taxonomy_term"] -= set(parsed.terms)
    refs["taxonomy"] -= set(parsed.taxonomies)
    return refs


# --- rows ----------------------------------------------------------------------------------------


def _with_ids(parent: uuid.UUID, kind: str, items: Iterable[BaseModel]) -> list[dict[str, Any]]:
    """Child records keep their ids; those without one get an id derived from the parent, so a
    re-import of the same dataset updates rather than duplicates."""
    out = []
    for i, item in enumerate(items):
        body = item.model_dump(mode="json")
        if body.get("id") is None:
            body["id"] = str(uuid.uuid5(parent, f"{kind}:{i}"))
        if "phones" in body and isinstance(body["phones"], list):
            for j, phone in enumerate(body["phones"]):
                if phone.get("id") is None:
                    phone["id"] = str(uuid.uuid5(uuid.UUID(body["id"]), f"phone:{j}"))
        out.append(body)
    return out


def organization_row(org: OrganizationIn, *, managed_by: str | None, now: datetime) -> dict[str, Any]:
    return {
        "id": org.id,
        "name": org.name,
        "alternate_name": org.alternate_name,
        "description": org.description,
        "email": org.email,
        "website": org.website,
        "agency_id": org.agency_id,
        "managed_by": managed_by,
        "phones": _with_ids(org.id, "phone", org.phones),
        "contacts": _with_ids(org.id, "contact", org.contacts),
        "updated_at": now,
    }


def location_row(location: LocationIn, *, now: datetime) -> dict[str, Any]:
    return {
        "id": location.id,
        "organization_id": location.organization_id,
        "name": location.name,
        "alternate_name": location.alternate_name,
        "description": location.description,
        "location_type": location.location_type.value,
        "latitude": location.latitude,
        "longitude": location.longitude,
        "addresses": _with_ids(location.id, "address", location.addresses),
        "phones": _with_ids(location.id, "phone", location.phones),
        "languages": _with_ids(location.id, "language", location.languages),
        "updated_at": now,
    }


def language_codes(codes: Iterable[str]) -> list[str]:
    """Codes searched by `?language=`: the tag and its primary subtag ("fr-CA" also answers "fr")."""
    found: set[str] = set()
    for code in codes:
        lowered = code.lower()
        found.add(lowered)
        found.add(lowered.split("-", 1)[0])
    return sorted(found)


def service_row(service: ServiceIn, *, now: datetime) -> dict[str, Any]:
    capacity = service.capacity
    mentors = [m.model_dump(mode="json") for m in service.mentors] if service.mentors is not None else None
    open_slots = capacity.open_slots if capacity else None
    if open_slots is None and service.mentors is not None:
        open_slots = sum(max(m.max_mentees - m.active_mentees, 0) for m in service.mentors)
    areas = {a.name.lower() for a in service.service_areas if a.name} | {
        a.code.lower() for a in service.service_areas if a.code
    }
    return {
        "id": service.id,
        "organization_id": service.organization_id,
        "name": service.name,
        "alternate_name": service.alternate_name,
        "description": service.description,
        "url": service.url,
        "email": service.email,
        "status": service.status.value,
        "interpretation_services": service.interpretation_services,
        "application_process": service.application_process,
        "fees_description": service.fees_description,
        "wait_time": service.wait_time,
        "eligibility_description": service.eligibility_description,
        "minimum_age": service.minimum_age,
        "maximum_age": service.maximum_age,
        "alert": service.alert,
        "referral_type": service.referral_type,
        "languages": _with_ids(service.id, "language", service.languages),
        "language_codes": language_codes(lang.code for lang in service.languages),
        "service_areas": _with_ids(service.id, "service_area", service.service_areas),
        "area_codes": sorted(areas),
        "schedules": _with_ids(service.id, "schedule", service.schedules),
        "phones": _with_ids(service.id, "phone", service.phones),
        "contacts": _with_ids(service.id, "contact", service.contacts),
        "cost_options": _with_ids(service.id, "cost_option", service.cost_options),
        "attributes": _with_ids(service.id, "attribute", service.attributes),
        "taxonomy_term_ids": sorted({str(a.taxonomy_term_id) for a in service.attributes}),
        "mentors": mentors,
        "open_slots": open_slots,
        "waiting_time_days": capacity.waiting_time_days if capacity else None,
        "capacity_updated_at": (capacity.updated_at if capacity and capacity.updated_at else now)
        if capacity is not None or mentors is not None
        else None,
        "updated_at": now,
    }


def site_row(site: ServiceAtLocationIn, *, now: datetime) -> dict[str, Any]:
    return {
        "id": site.id,
        "service_id": site.service_id,
        "location_id": site.location_id,
        "description": site.description,
        "schedules": _with_ids(site.id, "schedule", site.schedules),
        "phones": _with_ids(site.id, "phone", site.phones),
        "contacts": _with_ids(site.id, "contact", site.contacts),
        "updated_at": now,
    }


def utcnow() -> datetime:
    return datetime.now(UTC)
