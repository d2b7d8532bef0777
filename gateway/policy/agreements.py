"""Data-sharing agreements (the SOPs between agencies) as the policy decision point reads them.

Parsed from the referrals service's JSON (`GET /v1/agreements?between=A,B&at=`: contracts.md
"Agreement representation" plus `in_force`, `effective_from`, `effective_to`); only the parts that
decide a release are kept.

What carries a client's data from the agency holding the file (`owner`) to `recipient`:
- an agreement the OWNER is party to (the other party being the recipient, or `network`): a
  recipient's own network agreement never opens another agency's files;
- in force at the decision time: referrals says `in_force` at the time asked, and the gateway checks
  the validity window again against its own clock (a cached answer must not outlive `valid_to`);
- a direction `from_agency == owner` to the recipient (or to `network`).
The pair's own agreement wins over a network agreement (as referrals decides a referral).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from passage.consent import ALL_CATEGORIES, CATEGORIES, SENSITIVE_CATEGORIES

NETWORK = "network"  # a party or a direction end meaning every agency in the referral network


class AgreementDirection(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    from_agency: str
    to_agency: str
    categories: list[str]
    purposes: list[str]
    sla_hours: float | None = None

    def carries(self, owner: str, recipient: str) -> bool:
        return self.from_agency == owner and self.to_agency in (recipient, NETWORK)

    def carried(self, purpose: str) -> frozenset[str]:
        """The categories this direction carries for `purpose`. As with consent, "all" never covers
        health, psychosocial or protection data."""
        if purpose not in self.purposes:
            return frozenset()
        named = set(self.categories) & CATEGORIES
        if ALL_CATEGORIES in self.categories:
            named |= CATEGORIES - SENSITIVE_CATEGORIES
        return frozenset(named)


class DataSharingAgreement(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    id: uuid.UUID
    version: int
    parties: list[str]
    status: str
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    effective_from: datetime | None = None
    effective_to: datetime | None = None
    in_force: bool | None = None  # referrals' answer for the time the gateway asked about
    directions: list[AgreementDirection] = []

    def applies(self, at: datetime) -> bool:
        """In force at `at`: referrals said so (when it said), it is active, and `at` is in its window."""
        if self.in_force is False or self.status != "active":
            return False
        for start in (self.valid_from, self.effective_from):
            if start is not None and at < start:
                return False
        return all(end is None or at < end for end in (self.valid_to, self.effective_to))

    def binds(self, owner: str, recipient: str) -> bool:
        parties = set(self.parties)
        return owner in parties and (recipient in parties or NETWORK in parties)

    def directions_from(self, owner: str, recipient: str) -> list[AgreementDirection]:
        if not self.binds(owner, recipient):
            return []
        return [d for d in self.directions if d.carries(owner, recipient)]


def agreement_in_force(
    agreements: Iterable[DataSharingAgreement], owner: str, recipient: str, at: datetime
) -> DataSharingAgreement | None:
    """The agreement in force that carries data from `owner` to `recipient`: the pair's own first,
    then the owner's network agreement; the newest version within each."""
    candidates = [a for a in agreements if a.applies(at) and a.directions_from(owner, recipient)]
    if not candidates:
        return None
    return max(candidates, key=lambda a: (recipient in a.parties, a.version))
