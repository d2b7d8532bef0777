"""The data category of every personal field, served at GET /v1/schema/categories."""

from __future__ import annotations

from services.intake.schemas import client_field_categories

# Fields of the other resources, as `resource.field`. Codes, ids and dates of these resources are
# metadata; what describes the person carries a category.
OTHER_RESOURCE_CATEGORIES: dict[str, str] = {
    "consent.grantor": "identity",
    "consent.witness": "identity",
    "consent.withdrawal_reason": "case_notes",
    "assessment.vulnerability.answers": "protection",
    "assessment.vulnerability.protection_flags": "protection",
    "assessment.needs.answers": "needs",
    "assessment.skills.answers": "economic",
    "assessment.family.answers": "demographics",
    "assessment.rss.answers": "psychosocial",
    "assessment.notes": "case_notes",
    "household.relationship": "demographics",
    "household.dependant": "demographics",
    "caseplan.goals": "needs",
    "caseplan.planned_services": "needs",
    "caseplan.review.notes": "case_notes",
    "followup.points_seen": "case_notes",
    "followup.notes": "case_notes",
}


def categories_map() -> dict[str, str]:
    return {**client_field_categories(), **OTHER_RESOURCE_CATEGORIES}
