# mypy: disable-error-code="untyped-decorator,no-any-return"
"""Typed GraphQL shapes of what the services answer (outputs) and take (inputs).

Field names follow the services' JSON (camelCased by strawberry); `from_json` builds an output from
a service's answer and ignores keys the schema does not name. Inputs turn back into the service's
JSON with `payload()`, leaving out every field the caller did not set (PATCH semantics: an explicit
null is sent, an absent field is not).
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import date, datetime
from enum import Enum
from typing import Any, TypeVar

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from gateway.context import GatewayContext
from gateway.schema.clients import Client, load_client, parse_id

T = TypeVar("T")


def from_json(cls: type[T], body: Any) -> T:
    """An output type from a service's JSON object (unknown keys ignored, nested types built)."""
    if not isinstance(body, dict):
        body = {}
    values: dict[str, Any] = {}
    fields = [
        f
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.init and getattr(f, "base_resolver", None) is None  # resolved fields are not data
    ]
    for f in fields:
        if f.name.startswith("_") or (f.name not in body and f.name not in _RENAMED.get(cls.__name__, {})):
            continue
        key = _RENAMED.get(cls.__name__, {}).get(f.name, f.name)
        value = body.get(key)
        nested = _NESTED.get((cls.__name__, f.name))
        if nested is not None and value is not None:
            value = (
                [from_json(nested, v) for v in value] if isinstance(value, list) else from_json(nested, value)
            )
        values[f.name] = _temporal(f, value)
    for f in fields:
        if (
            f.name not in values
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        ):
            values[f.name] = None
    return cls(**values)


def _temporal(f: Any, value: Any) -> Any:
    """ISO 8601 strings of the services' JSON as the datetime / date the field declares."""
    if not isinstance(value, str):
        return value
    kind = getattr(f, "type", None)
    kind = getattr(kind, "of_type", kind)
    if isinstance(kind, str):  # the annotation as written (postponed evaluation)
        kind = datetime if "datetime" in kind else date if kind.split(" ")[0] == "date" else None
    try:
        if kind is datetime:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        if kind is date:
            return date.fromisoformat(value)
    except ValueError:
        return None
    return value


def payload(value: Any) -> Any:
    """An input object (or list of them) as the service's JSON, without the fields left unset."""
    if isinstance(value, list):
        return [payload(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            v = getattr(value, f.name)
            if v is strawberry.UNSET:
                continue
            if f.name == "other_fields":
                continue
            out[f.name] = payload(v)
        extra = getattr(value, "other_fields", strawberry.UNSET)
        if isinstance(extra, dict):
            out = {**extra, **out}
        return out
    return value


# -- outputs -------------------------------------------------------------------------------------


@strawberry.type(description="A consent as intake records it (FHIR Consent shaped).")
class Consent:
    id: strawberry.ID
    client_id: strawberry.ID
    agency_id: str
    grantor: str | None
    grantee_agency_id: str | None
    purposes: list[str]
    categories: list[str]
    decision: str
    period_start: datetime | None
    period_end: datetime | None
    status: str
    obtained_by: str | None
    language: str | None
    witness: str | None
    recorded_by: str | None
    withdrawn_at: datetime | None
    withdrawal_reason: str | None
    created_at: datetime | None


@strawberry.type(description="A submitted assessment answer set.")
class Assessment:
    id: strawberry.ID
    client_id: strawberry.ID
    agency_id: str
    kind: str
    instrument_version: str | None
    answers: JSON
    protection_flags: list[str] | None
    conducted_on: date | None
    notes: str | None
    submitted_by: str | None
    submitted_at: datetime | None


@strawberry.type(description="One step of a referral's history.")
class ReferralStep:
    from_status: str | None
    to_status: str | None
    kind: str | None
    actor: str | None
    agency_id: str | None
    reason: str | None
    outcome: str | None
    at: datetime | None


@strawberry.type(description="A referral from the agency holding the file to another agency's service.")
class Referral:
    id: strawberry.ID
    client_id: strawberry.ID
    sending_agency_id: str
    receiving_agency_id: str
    service_id: strawberry.ID | None
    referral_type: str | None
    purpose: str | None
    reasons: str | None
    urgency: str | None
    consent_id: strawberry.ID | None
    status: str
    emergency: bool | None
    dpo_review: str | None
    agreement_id: strawberry.ID | None
    agreement_version: int | None
    overdue: bool | None
    due_at: datetime | None
    outcome: str | None
    outcome_code: str | None
    history: list[ReferralStep] | None
    created_at: datetime | None
    updated_at: datetime | None

    @strawberry.field(
        description="The referred client, through the policy (consent, agreement, role, purpose)."
    )
    async def client(self, info: Info[GatewayContext, None]) -> Client | None:
        return await load_client(info.context, parse_id(self.client_id))


@strawberry.type
class Signature:
    agency_id: str
    signed_by: str
    signed_at: datetime


@strawberry.type(description="Which data flows one way under an agreement, for which purposes.")
class AgreementDirection:
    from_agency: str
    to_agency: str
    categories: list[str]
    purposes: list[str]
    referral_types: list[str] | None
    sla_hours: float | None
    who_may_refer: list[str] | None


@strawberry.type(
    description="A data-sharing agreement (the SOP) between two agencies, or one and the network."
)
class Agreement:
    id: strawberry.ID
    series_id: strawberry.ID | None
    version: int
    parties: list[str]
    status: str
    valid_from: datetime | None
    valid_to: datetime | None
    signatures: list[Signature]
    directions: list[AgreementDirection]
    on_consent_withdrawn: str | None
    supersedes: strawberry.ID | None
    effective_from: datetime | None
    effective_to: datetime | None
    in_force: bool | None


@strawberry.type(description="An in-app notification of the caller.")
class Notification:
    id: strawberry.ID
    kind: str
    resource: str | None
    title: str | None
    language: str | None
    created_at: datetime | None
    read_at: datetime | None


@strawberry.type
class MarkedRead:
    marked: int


@strawberry.type
class DuplicateCandidate:
    id: strawberry.ID
    similarity: float


_RENAMED: dict[str, dict[str, str]] = {"ReferralStep": {"from_status": "from", "to_status": "to"}}
_NESTED: dict[tuple[str, str], type] = {
    ("Referral", "history"): ReferralStep,
    ("Agreement", "signatures"): Signature,
    ("Agreement", "directions"): AgreementDirection,
}


# -- inputs --------------------------------------------------------------------------------------


@strawberry.input(description="Where the client lives (names or P-codes).")
class AreaInput:
    admin1: str | None = strawberry.UNSET
    admin2: str | None = strawberry.UNSET
    admin3: str | None = strawberry.UNSET


_OTHER = "Further intake client fields by their intake names (see intake's OpenAPI), e.g. maritalStatus "
"is `marital_status`. Typed fields above win over the same key here."


@strawberry.input(description="A new client of your agency (intake's client fields).")
class RegisterClientInput:
    given_name: str
    family_name: str
    sex: str
    other_names: list[str] | None = strawberry.UNSET
    birth_date: date | None = strawberry.UNSET
    birth_year: int | None = strawberry.UNSET
    gender: str | None = strawberry.UNSET
    nationality: str | None = strawberry.UNSET
    area: AreaInput | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    email: str | None = strawberry.UNSET
    preferred_contact_channel: str | None = strawberry.UNSET
    preferred_language: str | None = strawberry.UNSET
    interpreter_needed: bool | None = strawberry.UNSET
    migration_phase: str | None = strawberry.UNSET
    vulnerabilities: list[str] | None = strawberry.UNSET
    notes: str | None = strawberry.UNSET
    other_fields: JSON | None = strawberry.field(default=strawberry.UNSET, description=_OTHER)


@strawberry.input(description="Fields to change; a field left out is kept, an explicit null clears it.")
class UpdateClientInput:
    given_name: str | None = strawberry.UNSET
    family_name: str | None = strawberry.UNSET
    sex: str | None = strawberry.UNSET
    other_names: list[str] | None = strawberry.UNSET
    birth_date: date | None = strawberry.UNSET
    birth_year: int | None = strawberry.UNSET
    gender: str | None = strawberry.UNSET
    nationality: str | None = strawberry.UNSET
    area: AreaInput | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    email: str | None = strawberry.UNSET
    preferred_contact_channel: str | None = strawberry.UNSET
    preferred_language: str | None = strawberry.UNSET
    interpreter_needed: bool | None = strawberry.UNSET
    migration_phase: str | None = strawberry.UNSET
    vulnerabilities: list[str] | None = strawberry.UNSET
    notes: str | None = strawberry.UNSET
    other_fields: JSON | None = strawberry.field(default=strawberry.UNSET, description=_OTHER)


@strawberry.input(description="A client's consent: who may receive which categories, for which purposes.")
class ConsentInput:
    purposes: list[str]
    categories: list[str] = strawberry.field(
        description='Category names, or "all" (every NON-sensitive category; health, psychosocial and '
        "protection must be named)"
    )
    obtained_by: str = strawberry.field(description="written, verbal, witnessed or via_guardian")
    grantor: str | None = strawberry.UNSET
    grantee_agency_id: str | None = strawberry.field(
        default=strawberry.UNSET, description="null: any agency party to an agreement with yours"
    )
    decision: str | None = strawberry.UNSET
    period_start: datetime | None = strawberry.UNSET
    period_end: datetime | None = strawberry.UNSET
    language: str | None = strawberry.UNSET
    witness: str | None = strawberry.UNSET


@strawberry.input(description="An assessment answer set (vulnerability, needs, skills, family, rss).")
class AssessmentInput:
    kind: str
    # Required by intake (a missing one is BAD_USER_INPUT naming `answers`); nullable here only
    # because the GraphQL fuzzer cannot generate a required JSON argument.
    answers: JSON | None = strawberry.field(
        default=strawberry.UNSET, description="Concept key -> answer (required; see intake's assessments)"
    )
    instrument_version: str | None = strawberry.UNSET
    conducted_on: date | None = strawberry.UNSET
    notes: str | None = strawberry.UNSET


@strawberry.input
class CommunicationNeedsInput:
    preferred_language: str | None = strawberry.UNSET
    interpreter_needed: bool | None = strawberry.UNSET
    notes: str | None = strawberry.UNSET


@strawberry.input(description="A referral of your agency's client to another agency's service.")
class CreateReferralInput:
    client_id: strawberry.ID
    service_id: strawberry.ID
    receiving_agency_id: str
    reasons: str
    purpose: str | None = strawberry.field(default=strawberry.UNSET, description="referral or emergency")
    urgency: str | None = strawberry.field(
        default=strawberry.UNSET, description="routine, urgent, asap, stat"
    )
    consent_id: strawberry.ID | None = strawberry.UNSET
    referral_type: str | None = strawberry.UNSET
    emergency_justification: str | None = strawberry.UNSET
    communication_needs: CommunicationNeedsInput | None = strawberry.UNSET
    assessment_outline: str | None = strawberry.UNSET
    current_services: list[str] | None = strawberry.UNSET
    draft: bool | None = strawberry.UNSET


@strawberry.enum(
    description="What the receiving (accept, reject, start, complete) or sending (cancel) "
    "agency does with a referral."
)
class ReferralAction(Enum):
    accept = "accepted"
    reject = "rejected"
    start = "in-progress"
    complete = "completed"
    cancel = "cancelled"


@strawberry.input(description="One way data flows under an agreement.")
class AgreementDirectionInput:
    from_agency: str
    to_agency: str
    categories: list[str]
    purposes: list[str]
    referral_types: list[str] = strawberry.field(
        description='Referral types covered; "any" covers every type'
    )
    sla_hours: float | None = strawberry.UNSET
    who_may_refer: list[str] | None = strawberry.UNSET


@strawberry.input(description="A proposed agreement; your agency signs by proposing it.")
class ProposeAgreementInput:
    parties: list[str]
    valid_from: datetime
    directions: list[AgreementDirectionInput]
    valid_to: datetime | None = strawberry.UNSET
    on_consent_withdrawn: str | None = strawberry.field(
        default=strawberry.UNSET, description="on_hold or cancel"
    )
    supersedes: strawberry.ID | None = strawberry.UNSET
