"""The policy decision point: per data category of one client, release or withhold, and why.

Pure and in-process: no I/O, no clock (the caller passes `at`), so every rule is testable alone
and a decision costs microseconds. The enforcement point (the GraphQL resolvers) fetches the facts
(client metadata, consents, agreements, break-glass grant), asks here, nulls what is withheld and
audits the decision with its basis.

Rules, in the order they apply:
1. `statistics` is an aggregate purpose: no client-level data under it.
2. `emergency` opens a client only inside the caller's own break-glass window for that client.
3. Roles without client-level access (coordinators, service identities) get nothing.
4. The owning agency sees its clients by role: full, or identity only for summary-level access.
5. Another agency sees a category only if a consent in force grants it to that agency for this
   purpose AND an agreement in force carries it from the owner to that agency for this purpose;
   health, psychosocial and protection need a grant naming them in both.
6. Sensitive cases (trafficking, GBV, unaccompanied children) need a supervisor-capable role, inside
   the owning agency too; summary-level access caps every release at identity.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from gateway.policy.agreements import DataSharingAgreement, agreement_in_force
from gateway.policy.roles import AccessLevel, access_level, supervisor_capable
from passage.consent import CATEGORIES, ConsentRecord, evaluate_consent

SUMMARY_CATEGORIES = frozenset({"identity"})
ALL = frozenset(CATEGORIES)


class Reason(StrEnum):
    STATISTICS_PURPOSE = "statistics_purpose_is_aggregate_only"
    EMERGENCY_WITHOUT_BREAK_GLASS = "emergency_needs_break_glass"
    NO_CLIENT_LEVEL_ACCESS = "role_has_no_client_level_access"
    SUMMARY_ONLY = "role_sees_summary_only"
    SENSITIVE_CASE = "sensitive_case_needs_supervisor"
    NO_AGREEMENT = "no_agreement_in_force"
    AGREEMENT_EXCLUDES = "agreement_does_not_cover_category_for_purpose"
    NO_CONSENT = "no_consent_grants_category"
    CONSENT_DENIES = "consent_denies_category"
    SENSITIVE_NEEDS_EXPLICIT_GRANT = "sensitive_category_needs_explicit_grant"


class Rule(StrEnum):
    STATISTICS_ONLY = "statistics_is_aggregate_only"
    EMERGENCY_REFUSED = "emergency_without_break_glass"
    BREAK_GLASS = "break_glass"
    NO_CLIENT_LEVEL_ACCESS = "no_client_level_access"
    OWNER = "owning_agency_by_role"
    CROSS_AGENCY = "consent_and_agreement"


class Refusal(StrEnum):
    FORBIDDEN = "FORBIDDEN"  # the request itself is not allowed, whatever the client
    NOT_FOUND = "NOT_FOUND"  # the caller may not know of this client at all


@dataclass(frozen=True, slots=True)
class Requester:
    sub: str
    agency: str
    roles: frozenset[str]
    purpose: str
    scopes: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ClientFacts:
    id: uuid.UUID
    agency_id: str
    sensitive: bool = False


@dataclass(frozen=True, slots=True)
class BreakGlassGrant:
    id: uuid.UUID
    client_id: uuid.UUID
    actor: str
    agency_id: str
    started_at: datetime
    expires_at: datetime
    ended_at: datetime | None = None

    def open_for(self, requester: Requester, client_id: uuid.UUID, at: datetime) -> bool:
        return (
            self.client_id == client_id
            and self.actor == requester.sub
            and self.agency_id == requester.agency
            and self.ended_at is None
            and self.started_at <= at < self.expires_at
        )


@dataclass(frozen=True, slots=True)
class Withheld:
    reason: Reason
    detail: str


@dataclass(frozen=True, slots=True)
class Decision:
    rule: Rule
    released: frozenset[str]
    withheld: Mapping[str, Withheld]
    refusal: Refusal | None = None
    consents: Mapping[str, uuid.UUID] = field(default_factory=dict)  # category -> consent id
    agreement_id: uuid.UUID | None = None
    agreement_version: int | None = None
    grant_id: uuid.UUID | None = None

    @property
    def known(self) -> bool:
        return self.refusal is None

    def basis(self) -> dict[str, Any]:
        """The decision's basis as the audit log keeps it."""
        return {
            "rule": self.rule.value,
            "consents": {c: str(i) for c, i in sorted(self.consents.items())},
            "agreement_id": str(self.agreement_id) if self.agreement_id else None,
            "agreement_version": self.agreement_version,
            "grant_id": str(self.grant_id) if self.grant_id else None,
        }


def _all_withheld(reason: Reason, detail: str) -> dict[str, Withheld]:
    w = Withheld(reason, detail)
    return dict.fromkeys(ALL, w)


def decide(
    requester: Requester,
    client: ClientFacts,
    *,
    consents: Iterable[ConsentRecord],
    agreements: Iterable[DataSharingAgreement],
    grant: BreakGlassGrant | None,
    at: datetime,
) -> Decision:
    """Which categories of `client` the requester may receive now, and on what basis."""
    if requester.purpose == "statistics":
        return Decision(
            Rule.STATISTICS_ONLY,
            frozenset(),
            _all_withheld(Reason.STATISTICS_PURPOSE, "the statistics purpose serves aggregates only"),
            Refusal.FORBIDDEN,
        )
    if requester.purpose == "emergency":
        if grant is not None and grant.open_for(requester, client.id, at):
            return Decision(Rule.BREAK_GLASS, ALL, {}, grant_id=grant.id)
        return Decision(
            Rule.EMERGENCY_REFUSED,
            frozenset(),
            _all_withheld(
                Reason.EMERGENCY_WITHOUT_BREAK_GLASS,
                "emergency access needs your own open break-glass window for this client",
            ),
            Refusal.FORBIDDEN,
        )
    level = access_level(requester.roles, requester.scopes)
    if level is AccessLevel.NONE:
        return Decision(
            Rule.NO_CLIENT_LEVEL_ACCESS,
            frozenset(),
            _all_withheld(Reason.NO_CLIENT_LEVEL_ACCESS, "this role receives aggregate statistics only"),
            Refusal.FORBIDDEN,
        )
    if client.agency_id == requester.agency:
        return _limit_by_role(Decision(Rule.OWNER, ALL, {}), requester, client, level)
    return _cross_agency(requester, client, consents, agreements, at, level)


def _cross_agency(
    requester: Requester,
    client: ClientFacts,
    consents: Iterable[ConsentRecord],
    agreements: Iterable[DataSharingAgreement],
    at: datetime,
    level: AccessLevel,
) -> Decision:
    owner, recipient, purpose = client.agency_id, requester.agency, requester.purpose
    agreement = agreement_in_force(agreements, owner, recipient, at)
    if agreement is None:
        return Decision(
            Rule.CROSS_AGENCY,
            frozenset(),
            _all_withheld(
                Reason.NO_AGREEMENT, f"no agreement in force carries data from {owner} to {recipient}"
            ),
            Refusal.NOT_FOUND,
        )
    # What the agreement carries for this purpose, as one set (each direction looked at once).
    carried: set[str] = set()
    for direction in agreement.directions_from(owner, recipient):
        carried |= direction.carried(purpose)
    consent = evaluate_consent(
        consents,
        grantee_agency=recipient,
        purpose=purpose,
        categories=carried,
        at=at,
        party_to_agreement=True,
    )
    released: set[str] = set(consent.granted)
    withheld: dict[str, Withheld] = {}
    excluded = ALL - carried
    if excluded:
        label = f"agreement {agreement.id} v{agreement.version}"
        for category in excluded:
            withheld[category] = Withheld(
                Reason.AGREEMENT_EXCLUDES, f"{label} does not carry '{category}' for '{purpose}'"
            )
    for category, detail in consent.withheld.items():
        withheld[category] = Withheld(_consent_reason(detail), detail)
    withheld = dict(sorted(withheld.items()))  # in category order, as the audit and errors show it
    decision = Decision(
        Rule.CROSS_AGENCY,
        frozenset(released),
        withheld,
        None if released else Refusal.NOT_FOUND,
        consents={c: consent.basis[c] for c in released},
        agreement_id=agreement.id,
        agreement_version=agreement.version,
    )
    return _limit_by_role(decision, requester, client, level) if released else decision


def _consent_reason(detail: str) -> Reason:
    if " denies " in detail:
        return Reason.CONSENT_DENIES
    if "is sensitive" in detail:
        return Reason.SENSITIVE_NEEDS_EXPLICIT_GRANT
    return Reason.NO_CONSENT


def _limit_by_role(
    decision: Decision, requester: Requester, client: ClientFacts, level: AccessLevel
) -> Decision:
    released = set(decision.released)
    withheld = dict(decision.withheld)
    if client.sensitive and not supervisor_capable(requester.roles):
        for category in released:
            withheld[category] = Withheld(
                Reason.SENSITIVE_CASE, "a sensitive case is open to supervisor-capable roles only"
            )
        released.clear()
    elif level is AccessLevel.SUMMARY:
        for category in released - SUMMARY_CATEGORIES:
            withheld[category] = Withheld(
                Reason.SUMMARY_ONLY, "your access level shows identity and case status only"
            )
        released &= SUMMARY_CATEGORIES
    return Decision(
        decision.rule,
        frozenset(released),
        withheld,
        decision.refusal,
        consents={c: i for c, i in decision.consents.items() if c in released},
        agreement_id=decision.agreement_id,
        agreement_version=decision.agreement_version,
        grant_id=decision.grant_id,
    )
