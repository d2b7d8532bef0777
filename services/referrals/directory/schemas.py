"""The HSDS 3.0 JSON shapes: what an import accepts and what the read API returns.

Field names are HSDS's. Passage extensions: `agency_id` on an organization (the agency that
receives referrals for its services), `referral_type`, `capacity` and `mentors` on a service.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from passage.text import MultiLine, SingleLine

Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")]
LanguageCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")]
Name = Annotated[SingleLine, StringConstraints(min_length=1, max_length=300)]
Text = Annotated[MultiLine, StringConstraints(max_length=10_000)]
Short = Annotated[SingleLine, StringConstraints(max_length=300)]


class _In(BaseModel):
    # Unknown HSDS fields (and other profiles' extensions) are ignored, not refused.
    model_config = ConfigDict(extra="ignore")


class ServiceStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    DEFUNCT = "defunct"
    TEMPORARILY_CLOSED = "temporarily closed"


class LocationType(StrEnum):
    PHYSICAL = "physical"
    POSTAL = "postal"
    VIRTUAL = "virtual"


class Phone(_In):
    id: uuid.UUID | None = None
    number: Annotated[SingleLine, StringConstraints(min_length=1, max_length=50)]
    extension: Short | None = None
    type: Short | None = None
    description: Text | None = None


class Contact(_In):
    id: uuid.UUID | None = None
    name: Short | None = None
    title: Short | None = None
    department: Short | None = None
    email: Short | None = None
    phones: list[Phone] = []


class Language(_In):
    id: uuid.UUID | None = None
    name: Short | None = None
    code: LanguageCode
    note: Text | None = None


class Schedule(_In):
    id: uuid.UUID | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    freq: Annotated[str, StringConstraints(pattern=r"^(WEEKLY|MONTHLY)$")] | None = None
    interval: int | None = Field(default=None, ge=1, le=366)
    byday: (
        Annotated[
            str,
            StringConstraints(
                pattern=r"^((-?[1-5])?(MO|TU|WE|TH|FR|SA|SU))(,((-?[1-5])?(MO|TU|WE|TH|FR|SA|SU)))*$"
            ),
        ]
        | None
    ) = None
    opens_at: Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$")] | None = None
    closes_at: Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-4]):[0-5]\d(:[0-5]\d)?$")] | None = (
        None
    )
    timezone: Short | None = None
    description: Text | None = None


class ServiceArea(_In):
    id: uuid.UUID | None = None
    name: Short | None = None
    description: Text | None = None
    # Passage: the admin-area code searched by `?area=` (an intake client's area.admin1/2/3).
    code: Code | None = None


class CostOption(_In):
    id: uuid.UUID | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    option: Short | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None
    amount: float | None = Field(default=None, ge=0, le=1e9)
    amount_description: Text | None = None


class Attribute(_In):
    id: uuid.UUID | None = None
    taxonomy_term_id: uuid.UUID
    value: Short | None = None
    label: Short | None = None


class Address(_In):
    id: uuid.UUID | None = None
    attention: Short | None = None
    address_1: Short | None = None
    address_2: Short | None = None
    city: Short | None = None
    region: Short | None = None
    state_province: Short | None = None
    postal_code: Short | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    address_type: Annotated[str, StringConstraints(pattern=r"^(physical|postal|virtual)$")] = "physical"


class Mentor(_In):
    """A mentor of a mentoring programme (seed 001): capacity with attributes to match on. No name."""

    id: uuid.UUID
    languages: list[LanguageCode] = []
    origin: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    gender: Short | None = None
    area: Short | None = None
    active_mentees: int = Field(default=0, ge=0, le=1000)
    max_mentees: int = Field(default=1, ge=0, le=1000)

    @model_validator(mode="after")
    def _within_capacity(self) -> Mentor:
        if self.active_mentees > self.max_mentees:
            raise ValueError("active_mentees must not exceed max_mentees")
        return self


class Capacity(_In):
    open_slots: int | None = Field(default=None, ge=0, le=1_000_000)
    waiting_time_days: int | None = Field(default=None, ge=0, le=3650)
    updated_at: datetime | None = None


class OrganizationIn(_In):
    id: uuid.UUID
    name: Name
    alternate_name: Short | None = None
    description: Text | None = None
    email: Short | None = None
    website: Short | None = None
    phones: list[Phone] = []
    contacts: list[Contact] = []
    agency_id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,99}$")] | None = None


class LocationIn(_In):
    id: uuid.UUID
    organization_id: uuid.UUID | None = None
    name: Short | None = None
    alternate_name: Short | None = None
    description: Text | None = None
    location_type: LocationType = LocationType.PHYSICAL
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    addresses: list[Address] = []
    phones: list[Phone] = []
    languages: list[Language] = []


class ServiceAtLocationIn(_In):
    id: uuid.UUID
    service_id: uuid.UUID | None = None  # implied when nested in a service
    location_id: uuid.UUID | None = None  # or a nested `location`
    location: LocationIn | None = None
    description: Text | None = None
    schedules: list[Schedule] = []
    phones: list[Phone] = []
    contacts: list[Contact] = []

    @model_validator(mode="after")
    def _has_location(self) -> ServiceAtLocationIn:
        if self.location_id is None and self.location is None:
            raise ValueError("needs location_id (or a nested location)")
        if self.location is not None:
            if self.location_id is not None and self.location_id != self.location.id:
                raise ValueError("location_id and location.id differ")
            self.location_id = self.location.id
        return self


class ServiceIn(_In):
    id: uuid.UUID
    organization_id: uuid.UUID | None = None  # or a nested `organization`
    organization: OrganizationIn | None = None
    name: Name
    alternate_name: Short | None = None
    description: Text | None = None
    url: Short | None = None
    email: Short | None = None
    status: ServiceStatus = ServiceStatus.ACTIVE
    interpretation_services: Text | None = None
    application_process: Text | None = None
    fees_description: Text | None = None
    wait_time: Short | None = None
    eligibility_description: Text | None = None
    minimum_age: int | None = Field(default=None, ge=0, le=150)
    maximum_age: int | None = Field(default=None, ge=0, le=150)
    alert: Text | None = None
    referral_type: Code = "general"
    languages: list[Language] = []
    service_areas: list[ServiceArea] = []
    schedules: list[Schedule] = []
    phones: list[Phone] = []
    contacts: list[Contact] = []
    cost_options: list[CostOption] = []
    attributes: list[Attribute] = []
    service_at_locations: list[ServiceAtLocationIn] = []
    capacity: Capacity | None = None
    mentors: list[Mentor] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ServiceIn:
        if self.organization_id is None and self.organization is None:
            raise ValueError("needs organization_id (or a nested organization)")
        if self.organization is not None:
            if self.organization_id is not None and self.organization_id != self.organization.id:
                raise ValueError("organization_id and organization.id differ")
            self.organization_id = self.organization.id
        if (
            self.minimum_age is not None
            and self.maximum_age is not None
            and self.minimum_age > self.maximum_age
        ):
            raise ValueError("minimum_age must not exceed maximum_age")
        return self


class TaxonomyIn(_In):
    id: uuid.UUID
    name: Name
    description: Text | None = None
    uri: Short | None = None
    version: Short | None = None


class TaxonomyTermIn(_In):
    id: uuid.UUID
    code: Code | None = None
    name: Name
    description: Text | None = None
    parent_id: uuid.UUID | None = None
    taxonomy: Short | None = None
    taxonomy_id: uuid.UUID | None = None
    language: LanguageCode | None = None
    term_uri: Short | None = None


class HsdsDataset(BaseModel):
    """An HSDS JSON dataset: lists of records by entity. Services may nest their organization and
    their service_at_locations (with locations), as `GET /v1/hsds/services/{id}` returns them, so
    a read can be imported back. Records are validated one by one so that errors name them."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "organizations": [
                        {
                            "id": "0b6f7c1e-6a31-4c55-9a86-2d0f62f8a001",
                            "name": "Harbour Aid",
                            "agency_id": "harbour-aid",
                        }
                    ],
                    "services": [
                        {
                            "id": "0b6f7c1e-6a31-4c55-9a86-2d0f62f8a101",
                            "organization_id": "0b6f7c1e-6a31-4c55-9a86-2d0f62f8a001",
                            "name": "Psychosocial support group",
                            "referral_type": "psychosocial_support",
                            "languages": [{"code": "fr"}, {"code": "ar"}],
                            "capacity": {"open_slots": 4},
                        }
                    ],
                }
            ]
        },
    )

    organizations: list[dict[str, Any]] = Field(default_factory=list, max_length=100_000)
    services: list[dict[str, Any]] = Field(default_factory=list, max_length=100_000)
    locations: list[dict[str, Any]] = Field(default_factory=list, max_length=100_000)
    service_at_locations: list[dict[str, Any]] = Field(default_factory=list, max_length=200_000)
    taxonomies: list[dict[str, Any]] = Field(default_factory=list, max_length=1_000)
    taxonomy_terms: list[dict[str, Any]] = Field(default_factory=list, max_length=100_000)


class ImportReport(BaseModel):
    dry_run: bool
    organizations: int
    services: int
    locations: int
    service_at_locations: int
    taxonomies: int
    taxonomy_terms: int


T = TypeVar("T")


class HsdsPage(BaseModel, Generic[T]):
    """The HSDS API's page envelope."""

    total_items: int
    total_pages: int
    page_number: int
    size: int
    first_page: bool
    last_page: bool
    empty: bool
    contents: list[T]


class HsdsObject(BaseModel):
    """An HSDS record as the read API returns it (open shape: HSDS fields plus Passage extensions)."""

    model_config = ConfigDict(extra="allow")

    id: uuid.UUID
