"""Intake's API shapes for clients. Every personal field carries ONE data category.

The category is in the OpenAPI schema (`x-data-category`, and the description), and the whole
map is served at `GET /v1/schema/categories`: the gateway releases fields by category.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from passage.text import MultiLine, SingleLine
from services.intake.vocab import (
    Category,
    ClientStatus,
    ClosureReason,
    ContactChannel,
    DocumentKind,
    EducationLevel,
    EmploymentStatus,
    Gender,
    MaritalStatus,
    MigrationPhase,
    MigrationReason,
    ServiceCode,
    Sex,
    Vulnerability,
)

PHONE = r"^\+?[0-9][0-9 ()./-]{3,29}$"
EMAIL = r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,63}$"
BCP47 = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$"
COUNTRY = r"^[A-Z]{2,3}$"


def labelled(category: Category, description: str, default: Any = None, **kwargs: Any) -> Any:
    """A field with its data category in the schema (optional unless `default=...`)."""
    return Field(
        default,
        description=f"{description} Data category: {category}.",
        json_schema_extra={"x-data-category": category},
        **kwargs,
    )


class Area(BaseModel):
    """Administrative levels of where the client lives (names or P-codes)."""

    model_config = ConfigDict(extra="forbid")

    admin1: SingleLine | None = Field(default=None, max_length=100, examples=["Dakar"])
    admin2: SingleLine | None = Field(default=None, max_length=100)
    admin3: SingleLine | None = Field(default=None, max_length=100)


class EmergencyContact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: SingleLine = Field(min_length=1, max_length=200)
    relationship: SingleLine | None = Field(default=None, max_length=60)
    phone: str | None = Field(default=None, pattern=PHONE)


class IdentityDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID = Field(default_factory=uuid.uuid4, description="Kept across updates; give it to edit one")
    kind: DocumentKind
    number: SingleLine | None = Field(default=None, max_length=60)
    issuing_country: str | None = Field(default=None, pattern=COUNTRY)
    expires_on: date | None = None


class MigrationStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    country: str = Field(pattern=COUNTRY, examples=["LY"])
    from_date: date | None = None
    to_date: date | None = None
    status: SingleLine | None = Field(default=None, max_length=60, examples=["irregular", "work_permit"])


# The personal fields (MRC minimum data set, seed 004). All optional here; ClientCreate requires some.
class ClientFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    given_name: SingleLine | None = labelled("identity", "Given name(s).", min_length=1, max_length=200)
    family_name: SingleLine | None = labelled("identity", "Family name.", min_length=1, max_length=200)
    other_names: list[SingleLine] | None = labelled(
        "identity", "Other names and aliases the client is known by.", max_length=20
    )
    birth_date: date | None = labelled("identity", "Date of birth, when known.")
    birth_year: int | None = labelled(
        "demographics", "Year of birth (derived from birth_date).", ge=1900, le=2100
    )
    sex: Sex | None = labelled("demographics", "Sex.")
    gender: Gender | None = labelled("demographics", "Gender, as the client states it.")
    marital_status: MaritalStatus | None = labelled("demographics", "Marital status.")
    dependants: int | None = labelled("demographics", "Number of dependants.", ge=0, le=50)
    education_level: EducationLevel | None = labelled("demographics", "Highest level of education.")
    nationality: str | None = labelled("legal_status", "Nationality (ISO 3166-1 code).", pattern=COUNTRY)
    area: Area | None = labelled("demographics", "Where the client lives (admin levels).")
    phone: str | None = labelled("contact", "Phone number.", pattern=PHONE)
    email: str | None = labelled("contact", "E-mail address.", pattern=EMAIL, max_length=254)
    preferred_contact_channel: ContactChannel | None = labelled(
        "contact", "How the client wants to be reached."
    )
    emergency_contact: EmergencyContact | None = labelled("contact", "A family emergency contact.")
    preferred_language: str | None = labelled("demographics", "First language (BCP 47).", pattern=BCP47)
    second_language: str | None = labelled("demographics", "Second language (BCP 47).", pattern=BCP47)
    interpreter_needed: bool | None = labelled("demographics", "Whether an interpreter is needed.")
    employment_status: EmploymentStatus | None = labelled("economic", "Employment status.")
    occupation: SingleLine | None = labelled("economic", "Occupation or trade.", max_length=120)
    migration_phase: MigrationPhase | None = labelled(
        "demographics", "Where the client is in the migration cycle."
    )
    migration_history: list[MigrationStep] | None = labelled(
        "legal_status", "Countries of transit and stay, with status.", max_length=30
    )
    destination_country: str | None = labelled("legal_status", "Intended destination.", pattern=COUNTRY)
    migration_reasons: list[MigrationReason] | None = labelled(
        "needs", "Reasons for migrating.", max_length=10
    )
    enquiring_on_behalf_of_others: bool | None = labelled(
        "needs", "The person enquires for someone else (family member, friend)."
    )
    vulnerabilities: list[Vulnerability] | None = labelled(
        "protection",
        "Vulnerabilities (Handbook categories). Trafficking, GBV, unaccompanied child "
        "mark the case sensitive.",
        max_length=14,
    )
    services_sought: list[ServiceCode] | None = labelled(
        "needs", "Services the client asks for.", max_length=15
    )
    services_received: list[ServiceCode] | None = labelled("needs", "Services given so far.", max_length=15)
    identity_documents: list[IdentityDocument] | None = labelled(
        "legal_status", "Identity documents with expiry dates.", max_length=10
    )
    notes: MultiLine | None = labelled("case_notes", "Case worker's notes at intake.", max_length=5000)

    @field_validator("birth_date")
    @classmethod
    def _birth_date_past(cls, value: date | None) -> date | None:
        if value is not None and (value > date.today() or value.year < 1900):
            raise ValueError("must be a past date after 1900")
        return value

    @field_validator("birth_year")
    @classmethod
    def _birth_year_past(cls, value: int | None) -> int | None:
        if value is not None and value > date.today().year:
            raise ValueError("must not be in the future")
        return value

    @field_validator("vulnerabilities", "services_sought", "services_received", "migration_reasons")
    @classmethod
    def _unique(cls, value: list[str] | None) -> list[str] | None:
        return list(dict.fromkeys(value)) if value is not None else None

    @model_validator(mode="after")
    def _birth_year_matches_date(self) -> ClientFields:
        if self.birth_date is not None:
            if self.birth_year is not None and self.birth_year != self.birth_date.year:
                raise ValueError("birth_year does not match birth_date")
            self.birth_year = self.birth_date.year
        return self


def client_field_categories() -> dict[str, str]:
    out: dict[str, str] = {}
    for name, info in ClientFields.model_fields.items():
        extra = info.json_schema_extra
        assert isinstance(extra, dict)
        out[name] = str(extra["x-data-category"])
    out["closure_note"] = "case_notes"
    return out


_EXAMPLE: dict[str, Any] = {
    "given_name": "Aminata",
    "family_name": "Diallo",
    "birth_year": 1994,
    "sex": "female",
    "gender": "woman",
    "nationality": "SN",
    "area": {"admin1": "Dakar", "admin2": "Pikine"},
    "phone": "+221 77 000 00 00",
    "preferred_contact_channel": "sms",
    "preferred_language": "fr",
    "interpreter_needed": False,
    "migration_phase": "returnee",
    "vulnerabilities": ["serious_medical_condition"],
    "services_sought": ["employment", "health"],
}


class ClientCreate(ClientFields):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    given_name: SingleLine = labelled("identity", "Given name(s).", ..., min_length=1, max_length=200)
    family_name: SingleLine = labelled("identity", "Family name.", ..., min_length=1, max_length=200)
    sex: Sex = labelled("demographics", "Sex.", ...)


class ClientUpdate(ClientFields):
    """Only the fields sent change; `null` clears a field (names and sex cannot be cleared)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"phone": "+221 77 111 11 11"}]}
    )

    @model_validator(mode="after")
    def _required_stay(self) -> ClientUpdate:
        for name in ("given_name", "family_name", "sex"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be cleared")
        return self


class DuplicateCandidate(BaseModel):
    id: uuid.UUID
    similarity: float = Field(description="Name similarity 0..1 (trigram)")
    matched_on: list[Literal["identity_document", "phone", "name"]] = Field(
        default_factory=list,
        description="Why it is a likely duplicate: the same identity document number, the same phone "
        "number (with a compatible birth year and sex), or a similar name (ditto)",
    )


class ClientPublic(ClientFields):
    """Metadata first, then the personal fields (null when not recorded, or anonymised)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    id: uuid.UUID
    agency_id: str
    status: ClientStatus
    sensitive: bool
    sensitivity_reasons: list[str]
    version: int = Field(description="Bumped by every change; the ETag is this number quoted")
    consent_revision: int = Field(
        ge=0,
        description="Moves with every change to this client's consents (granted, withdrawn, expired, "
        "moved by a merge); a cache of the consents is current while it is unchanged. Metadata: not "
        "the ETag, a consent change leaves `version` alone",
    )
    registered_by: str
    case_worker: str | None = Field(description="`sub` of the responsible case worker")
    possible_duplicates: list[uuid.UUID] = Field(
        default_factory=list, description="Likely duplicates in the agency, flagged at registration"
    )
    merged_into: uuid.UUID | None = None
    closure_reason: ClosureReason | None = None
    closure_note: str | None = Field(
        default=None, description="Final note at closure. Data category: case_notes."
    )
    closed_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class RegistrationResult(ClientPublic):
    duplicate_warning: list[DuplicateCandidate] = Field(
        default_factory=list,
        description="Likely duplicates (name similarity + birth year + sex) in your agency. The record "
        "is created; confirm it as new (POST /v1/clients/{id}/duplicates/dismiss) or merge.",
    )


class CloseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "plan_completed"}]})

    reason: ClosureReason
    final_note: MultiLine | None = Field(default=None, max_length=5000)

    @field_validator("reason")
    @classmethod
    def _not_merge(cls, value: str) -> str:
        if value == "duplicate_merged":
            raise ValueError("use the merge action to fold a duplicate")
        return value


class ReopenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: MultiLine | None = Field(default=None, max_length=2000)


class MergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    duplicate_id: uuid.UUID = Field(description="The record folded into this one; it is closed, not deleted")


class ChangePublic(BaseModel):
    cursor: str
    resource: str
    resource_id: uuid.UUID
    client_id: uuid.UUID
    action: str
    changed_at: datetime


class ChangesPage(BaseModel):
    items: list[ChangePublic]
    next_cursor: str = Field(
        description="Pass as `since` next time (always given, even when nothing changed)"
    )
    has_more: bool
