"""The policy decision point, one rule at a time (pure: no services needed)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.policy.agreements import DataSharingAgreement
from gateway.policy.pdp import (
    ALL,
    BreakGlassGrant,
    ClientFacts,
    Reason,
    Refusal,
    Requester,
    Rule,
    decide,
)
from passage.consent import ConsentRecord

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
OWNER, RECIPIENT, STRANGER = "harbour-aid", "bridge-ngo", "far-away"
CLIENT = ClientFacts(id=uuid.uuid4(), agency_id=OWNER)
SENSITIVE_CLIENT = ClientFacts(id=uuid.uuid4(), agency_id=OWNER, sensitive=True)


def who(
    agency: str = RECIPIENT, *roles: str, purpose: str = "referral", scopes: tuple[str, ...] = ()
) -> Requester:
    return Requester(
        sub=f"{agency}-user",
        agency=agency,
        roles=frozenset(roles or ("case_worker",)),
        purpose=purpose,
        scopes=frozenset(scopes),
    )


def consent(categories: list[str], *, client: ClientFacts = CLIENT, **over: Any) -> ConsentRecord:
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "client_id": str(client.id),
        "agency_id": OWNER,
        "grantee_agency_id": RECIPIENT,
        "purposes": ["referral"],
        "categories": categories,
        "decision": "permit",
        "period_start": (NOW - timedelta(days=10)).isoformat(),
        "period_end": None,
        "status": "active",
    }
    body.update(over)
    return ConsentRecord.model_validate(body)


def agreement(
    categories: list[str], *, purposes: tuple[str, ...] = ("referral",), **over: Any
) -> DataSharingAgreement:
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "version": 3,
        "parties": [OWNER, RECIPIENT],
        "status": "active",
        "valid_from": (NOW - timedelta(days=30)).isoformat(),
        "valid_to": None,
        "directions": [
            {
                "from_agency": OWNER,
                "to_agency": RECIPIENT,
                "categories": categories,
                "purposes": list(purposes),
            }
        ],
    }
    body.update(over)
    return DataSharingAgreement.model_validate(body)


def test_owning_case_worker_sees_every_category_of_an_ordinary_case() -> None:
    d = decide(who(OWNER), CLIENT, consents=[], agreements=[], grant=None, at=NOW)
    assert d.rule is Rule.OWNER
    assert d.released == ALL
    assert d.known


def test_other_agency_sees_a_category_granted_by_consent_and_carried_by_the_agreement() -> None:
    c, a = consent(["identity", "needs"]), agreement(["identity", "needs", "contact"])
    d = decide(who(), CLIENT, consents=[c], agreements=[a], grant=None, at=NOW)
    assert d.released == {"identity", "needs"}
    assert d.withheld["contact"].reason is Reason.NO_CONSENT
    assert d.consents == {"identity": c.id, "needs": c.id}
    assert (d.agreement_id, d.agreement_version) == (a.id, 3)
    assert d.basis()["rule"] == "consent_and_agreement"


def test_consent_without_an_agreement_releases_nothing_and_hides_the_client() -> None:
    d = decide(who(), CLIENT, consents=[consent(["all"])], agreements=[], grant=None, at=NOW)
    assert d.released == frozenset()
    assert d.refusal is Refusal.NOT_FOUND
    assert d.withheld["identity"].reason is Reason.NO_AGREEMENT


def test_agreement_that_does_not_carry_a_category_withholds_it_despite_consent() -> None:
    d = decide(
        who(), CLIENT, consents=[consent(["all"])], agreements=[agreement(["identity"])], grant=None, at=NOW
    )
    assert d.released == {"identity"}
    assert d.withheld["contact"].reason is Reason.AGREEMENT_EXCLUDES


def test_agreement_for_another_purpose_does_not_apply() -> None:
    a = agreement(["all"], purposes=("follow_up",))
    d = decide(who(), CLIENT, consents=[consent(["all"])], agreements=[a], grant=None, at=NOW)
    assert d.refusal is Refusal.NOT_FOUND


def test_consent_for_another_purpose_does_not_apply() -> None:
    c = consent(["all"], purposes=["follow_up"])
    d = decide(who(), CLIENT, consents=[c], agreements=[agreement(["all"])], grant=None, at=NOW)
    assert d.refusal is Refusal.NOT_FOUND
    assert d.withheld["identity"].reason is Reason.NO_CONSENT


def test_an_unsigned_or_expired_agreement_does_not_count() -> None:
    proposed = agreement(["all"], status="proposed")
    ended = agreement(["all"], valid_to=(NOW - timedelta(days=1)).isoformat())
    d = decide(who(), CLIENT, consents=[consent(["all"])], agreements=[proposed, ended], grant=None, at=NOW)
    assert d.refusal is Refusal.NOT_FOUND


def test_withdrawn_and_expired_consents_release_nothing() -> None:
    withdrawn = consent(["all"], status="withdrawn", withdrawn_at=(NOW - timedelta(minutes=1)).isoformat())
    expired = consent(["all"], period_end=(NOW - timedelta(days=1)).isoformat())
    d = decide(
        who(), CLIENT, consents=[withdrawn, expired], agreements=[agreement(["all"])], grant=None, at=NOW
    )
    assert d.refusal is Refusal.NOT_FOUND


def test_recipient_sees_no_health_data_without_explicit_grant() -> None:
    a = agreement(["all", "health"])
    d = decide(who(), CLIENT, consents=[consent(["all"])], agreements=[a], grant=None, at=NOW)
    assert "health" not in d.released
    assert "identity" in d.released
    assert d.withheld["health"].reason is Reason.SENSITIVE_NEEDS_EXPLICIT_GRANT


def test_health_named_in_consent_and_agreement_is_released() -> None:
    a = agreement(["all", "health"])
    d = decide(who(), CLIENT, consents=[consent(["all", "health"])], agreements=[a], grant=None, at=NOW)
    assert "health" in d.released
    assert "psychosocial" not in d.released


def test_a_general_agreement_does_not_carry_sensitive_categories() -> None:
    d = decide(
        who(),
        CLIENT,
        consents=[consent(["all", "health"])],
        agreements=[agreement(["all"])],
        grant=None,
        at=NOW,
    )
    assert d.withheld["health"].reason is Reason.AGREEMENT_EXCLUDES


def test_a_deny_provision_wins_over_a_permit() -> None:
    deny = consent(["contact"], decision="deny")
    d = decide(
        who(), CLIENT, consents=[consent(["all"]), deny], agreements=[agreement(["all"])], grant=None, at=NOW
    )
    assert "contact" not in d.released
    assert d.withheld["contact"].reason is Reason.CONSENT_DENIES


def test_sensitive_case_needs_a_supervisor_even_inside_the_owning_agency() -> None:
    worker = decide(who(OWNER), SENSITIVE_CLIENT, consents=[], agreements=[], grant=None, at=NOW)
    assert worker.released == frozenset()
    assert worker.known
    assert worker.withheld["identity"].reason is Reason.SENSITIVE_CASE
    supervisor = decide(
        who(OWNER, "supervisor"), SENSITIVE_CLIENT, consents=[], agreements=[], grant=None, at=NOW
    )
    assert supervisor.released == ALL


def test_sensitive_case_across_agencies_needs_a_supervisor_too() -> None:
    c, a = consent(["all"], client=SENSITIVE_CLIENT), agreement(["all"])
    worker = decide(who(), SENSITIVE_CLIENT, consents=[c], agreements=[a], grant=None, at=NOW)
    assert worker.released == frozenset()
    supervisor = decide(
        who(RECIPIENT, "supervisor"), SENSITIVE_CLIENT, consents=[c], agreements=[a], grant=None, at=NOW
    )
    assert "identity" in supervisor.released


def test_summary_only_role_sees_identity_and_case_status_alone() -> None:
    admin = decide(who(OWNER, "agency_admin"), CLIENT, consents=[], agreements=[], grant=None, at=NOW)
    assert admin.released == {"identity"}
    assert admin.withheld["contact"].reason is Reason.SUMMARY_ONLY
    scoped = decide(
        who(OWNER, "case_worker", scopes=("passage:summary_only",)),
        CLIENT,
        consents=[],
        agreements=[],
        grant=None,
        at=NOW,
    )
    assert scoped.released == {"identity"}


def test_coordinators_get_no_client_level_data_at_all() -> None:
    d = decide(
        who(OWNER, "coordinator", purpose="case_management"),
        CLIENT,
        consents=[],
        agreements=[],
        grant=None,
        at=NOW,
    )
    assert d.released == frozenset()
    assert d.refusal is Refusal.FORBIDDEN


def test_statistics_purpose_never_opens_a_client() -> None:
    d = decide(
        who(OWNER, "supervisor", purpose="statistics"), CLIENT, consents=[], agreements=[], grant=None, at=NOW
    )
    assert d.refusal is Refusal.FORBIDDEN
    assert d.rule is Rule.STATISTICS_ONLY


def grant(
    requester: Requester, *, minutes: int = 30, started: datetime = NOW - timedelta(minutes=5)
) -> BreakGlassGrant:
    return BreakGlassGrant(
        id=uuid.uuid4(),
        client_id=SENSITIVE_CLIENT.id,
        actor=requester.sub,
        agency_id=requester.agency,
        started_at=started,
        expires_at=started + timedelta(minutes=minutes),
    )


def test_emergency_without_break_glass_is_refused() -> None:
    me = who(STRANGER, "supervisor", purpose="emergency")
    d = decide(me, SENSITIVE_CLIENT, consents=[], agreements=[], grant=None, at=NOW)
    assert d.refusal is Refusal.FORBIDDEN
    assert d.withheld["health"].reason is Reason.EMERGENCY_WITHOUT_BREAK_GLASS


def test_break_glass_opens_every_category_for_its_window_only() -> None:
    me = who(STRANGER, "supervisor", purpose="emergency")
    g = grant(me)
    inside = decide(me, SENSITIVE_CLIENT, consents=[], agreements=[], grant=g, at=NOW)
    assert inside.released == ALL
    assert inside.grant_id == g.id
    assert inside.rule is Rule.BREAK_GLASS
    after = decide(me, SENSITIVE_CLIENT, consents=[], agreements=[], grant=g, at=NOW + timedelta(hours=1))
    assert after.refusal is Refusal.FORBIDDEN


def test_break_glass_is_personal() -> None:
    me = who(STRANGER, "supervisor", purpose="emergency")
    colleague = Requester(sub="someone-else", agency=STRANGER, roles=me.roles, purpose="emergency")
    d = decide(colleague, SENSITIVE_CLIENT, consents=[], agreements=[], grant=grant(me), at=NOW)
    assert d.refusal is Refusal.FORBIDDEN


def test_network_agreement_carries_data_to_any_member() -> None:
    a = agreement(
        ["identity"],
        parties=[OWNER, "network"],
        directions=[
            {
                "from_agency": OWNER,
                "to_agency": "network",
                "categories": ["identity"],
                "purposes": ["referral"],
            }
        ],
    )
    c = consent(["identity"], grantee_agency_id=None)
    d = decide(who(), CLIENT, consents=[c], agreements=[a], grant=None, at=NOW)
    assert d.released == {"identity"}
