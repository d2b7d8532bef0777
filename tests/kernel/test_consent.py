"""The shared consent evaluation: what a client's consents let an agency receive, for a purpose, now."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passage.consent import CATEGORIES, SENSITIVE_CATEGORIES, ConsentRecord, evaluate_consent

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
CLIENT = uuid.uuid4()


def consent(**overrides: Any) -> ConsentRecord:
    record: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "client_id": str(CLIENT),
        "agency_id": "demo-agency",
        "grantee_agency_id": "harbour-aid",
        "purposes": ["referral"],
        "categories": ["identity", "needs"],
        "decision": "permit",
        "period_start": (NOW - timedelta(days=30)).isoformat(),
        "period_end": None,
        "status": "active",
        "grantor": "the client",  # intake's other fields are ignored
    }
    record.update(overrides)
    return ConsentRecord.model_validate(record)


def decide(records: list[ConsentRecord], *categories: str, **kwargs: Any) -> Any:
    options: dict[str, Any] = {
        "grantee_agency": "harbour-aid",
        "purpose": "referral",
        "at": NOW,
        "party_to_agreement": True,
    }
    options.update(kwargs)
    return evaluate_consent(records, categories=set(categories), **options)


def test_a_permit_grants_the_categories_it_names_to_its_grantee_with_its_id_as_basis() -> None:
    c = consent()
    d = decide([c], "identity", "needs", "contact")
    assert d.granted == {"identity", "needs"}
    assert d.basis == {"identity": c.id, "needs": c.id}
    assert set(d.withheld) == {"contact"}
    assert "harbour-aid" in d.withheld["contact"]
    assert not d.covers_all


def test_another_agency_or_another_purpose_gets_nothing() -> None:
    c = consent()
    assert decide([c], "identity", grantee_agency="other-ngo").granted == set()
    assert decide([c], "identity", purpose="case_management").granted == set()


def test_a_general_grant_never_covers_health_psychosocial_or_protection() -> None:
    general = consent(categories=["all"])
    d = decide([general], *sorted(CATEGORIES))
    assert d.granted == CATEGORIES - SENSITIVE_CATEGORIES
    for category in SENSITIVE_CATEGORIES:
        assert "general grant does not cover" in d.withheld[category]
    explicit = consent(categories=["health"])
    assert decide([general, explicit], "health").granted == {"health"}


def test_a_deny_provision_wins_over_any_permit() -> None:
    permit = consent(categories=["all", "health"])
    deny = consent(decision="deny", categories=["health"])
    d = decide([permit, deny], "health", "identity")
    assert d.granted == {"identity"}
    assert str(deny.id) in d.withheld["health"]


def test_withdrawn_expired_and_out_of_period_consents_do_not_count() -> None:
    withdrawn = consent(status="withdrawn", withdrawn_at=(NOW - timedelta(minutes=1)).isoformat())
    expired = consent(status="expired")
    ended = consent(period_end=(NOW - timedelta(seconds=1)).isoformat())
    future = consent(period_start=(NOW + timedelta(days=1)).isoformat())
    for record in (withdrawn, expired, ended, future):
        assert decide([record], "identity").granted == set(), record


def test_a_consent_withdrawn_later_was_in_force_before_its_withdrawal() -> None:
    withdrawn = consent(status="withdrawn", withdrawn_at=(NOW + timedelta(hours=1)).isoformat())
    assert decide([withdrawn], "identity").granted == {"identity"}


def test_a_consent_to_any_agency_counts_only_for_a_party_to_an_agreement() -> None:
    network = consent(grantee_agency_id=None)
    assert decide([network], "identity", party_to_agreement=True).granted == {"identity"}
    assert decide([network], "identity", party_to_agreement=False).granted == set()


def test_the_consent_naming_the_agency_is_preferred_as_basis() -> None:
    network = consent(grantee_agency_id=None, period_start=(NOW - timedelta(days=1)).isoformat())
    named = consent(period_start=(NOW - timedelta(days=300)).isoformat())
    assert decide([network, named], "identity").basis["identity"] == named.id


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide([consent()], "identity", at=NOW.replace(tzinfo=None))


@given(
    categories=st.sets(st.sampled_from(sorted(CATEGORIES | {"all"})), max_size=6),
    asked=st.sets(st.sampled_from(sorted(CATEGORIES)), min_size=1),
    decision=st.sampled_from(["permit", "deny"]),
)
def test_granted_and_withheld_partition_what_was_asked_and_sensitive_data_needs_its_name(
    categories: set[str], asked: set[str], decision: str
) -> None:
    d = decide([consent(categories=sorted(categories), decision=decision)], *asked)
    assert d.granted | set(d.withheld) == asked
    assert not d.granted & set(d.withheld)
    assert all(c in categories for c in d.granted & SENSITIVE_CATEGORIES)
    if decision == "deny":
        assert d.granted == set()
