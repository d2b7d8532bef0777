"""What a client's consents allow: one evaluation, shared by the gateway's policy decision point and
the referrals service's preconditions, so that the two can never disagree.

Consents are intake's records (FHIR R5 Consent shaped); this module reads their JSON and answers,
per data category, whether an agency may receive it for a purpose at a time, and on which consent.
It decides nothing about agreements (SOPs) or roles: those are the callers' other conditions.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

CATEGORIES = frozenset(
    {
        "identity",
        "contact",
        "demographics",
        "legal_status",
        "needs",
        "protection",
        "health",
        "psychosocial",
        "economic",
        "case_notes",
        "scores",
    }
)
# Never released under a general grant: the consent must name them (ARCHITECTURE, seed 003).
SENSITIVE_CATEGORIES = frozenset({"health", "psychosocial", "protection"})
ALL_CATEGORIES = "all"  # in a consent: every category that is not sensitive
PURPOSES = frozenset({"case_management", "referral", "follow_up", "statistics", "emergency"})


class ConsentRecord(BaseModel):
    """The parts of intake's consent representation that decide what it allows."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: uuid.UUID
    client_id: uuid.UUID
    agency_id: str
    grantee_agency_id: str | None = None  # None: any agency party to an agreement with the holder
    purposes: list[str]
    categories: list[str]
    decision: Literal["permit", "deny"] = "permit"
    period_start: datetime
    period_end: datetime | None = None
    status: Literal["active", "withdrawn", "expired"] = "active"
    withdrawn_at: datetime | None = None

    def in_force(self, at: datetime) -> bool:
        if at < self.period_start or (self.period_end is not None and at >= self.period_end):
            return False
        if self.status == "withdrawn":
            # Withdrawal is immediate; before it, the consent was in force (the audit may ask).
            return self.withdrawn_at is not None and at < self.withdrawn_at
        return self.status == "active"

    def named(self, *, sensitive_needs_name: bool) -> frozenset[str]:
        """Every category this provision names; "all" stands for every category that is not
        sensitive when `sensitive_needs_name` (a permit), and for every category otherwise (a deny)."""
        named = set(self.categories)
        if ALL_CATEGORIES in named:
            named |= CATEGORIES - SENSITIVE_CATEGORIES if sensitive_needs_name else CATEGORIES
        return frozenset(named)


@dataclass(frozen=True)
class ConsentDecision:
    granted: frozenset[str]
    withheld: dict[str, str] = field(default_factory=dict)  # category -> reason a caseworker can act on
    basis: dict[str, uuid.UUID] = field(default_factory=dict)  # category -> the consent that grants it

    @property
    def covers_all(self) -> bool:
        return not self.withheld

    @property
    def consent_ids(self) -> frozenset[uuid.UUID]:
        return frozenset(self.basis.values())


def evaluate_consent(
    records: Iterable[ConsentRecord],
    *,
    grantee_agency: str,
    purpose: str,
    categories: Iterable[str],
    at: datetime,
    party_to_agreement: bool,
) -> ConsentDecision:
    """Which of `categories` the client's consents let `grantee_agency` receive for `purpose` at `at`.

    A deny provision that applies wins over any permit. A consent naming no grantee counts only
    for an agency party to an agreement with the holder (`party_to_agreement`). A consent to
    "all" never covers health, psychosocial or protection data.
    """
    if at.tzinfo is None:
        raise ValueError("`at` must be timezone-aware")
    applicable = [
        r
        for r in records
        if r.in_force(at)
        and purpose in r.purposes
        and (r.grantee_agency_id == grantee_agency or (r.grantee_agency_id is None and party_to_agreement))
    ]
    # The consent naming this agency is the better basis than a network-wide one; then the newest.
    applicable.sort(key=lambda r: (r.grantee_agency_id is None, -r.period_start.timestamp()))
    # What each provision names, worked out once (not once per category): a decision costs microseconds.
    denials = [(r, r.named(sensitive_needs_name=False)) for r in applicable if r.decision == "deny"]
    permits = [(r, r.named(sensitive_needs_name=True)) for r in applicable if r.decision == "permit"]
    general_permit = any(ALL_CATEGORIES in r.categories for r, _ in permits)
    granted: set[str] = set()
    withheld: dict[str, str] = {}
    basis: dict[str, uuid.UUID] = {}
    for category in sorted(set(categories)):
        denial = next((r for r, named in denials if category in named), None)
        if denial is not None:
            withheld[category] = (
                f"consent {denial.id} denies '{category}' to {grantee_agency} for '{purpose}'"
            )
            continue
        permit = next((r for r, named in permits if category in named), None)
        if permit is not None:
            granted.add(category)
            basis[category] = permit.id
        elif category in SENSITIVE_CATEGORIES and general_permit:
            withheld[category] = (
                f"'{category}' is sensitive: a general grant does not cover it; "
                "the client must consent to it by name"
            )
        else:
            withheld[category] = (
                f"no consent in force grants '{category}' to {grantee_agency} for the purpose '{purpose}'"
            )
    return ConsentDecision(granted=frozenset(granted), withheld=withheld, basis=basis)
