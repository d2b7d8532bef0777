"""Intake's code lists, in the handbooks' words (seeds 002 and 004) and the shared contracts."""

from __future__ import annotations

from typing import Literal

# The exact strings of contracts.md (the kernel's passage.consent holds the same lists).
Category = Literal[
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
]
CATEGORIES = frozenset(Category.__args__)  # type: ignore[attr-defined]
SENSITIVE_CATEGORIES = frozenset({"health", "psychosocial", "protection"})
Purpose = Literal["case_management", "referral", "follow_up", "statistics", "emergency"]

Sex = Literal["female", "male", "intersex", "unknown"]
Gender = Literal["woman", "man", "non_binary", "other", "undisclosed"]
MaritalStatus = Literal["single", "married", "partnered", "separated", "divorced", "widowed", "unknown"]
EducationLevel = Literal["none", "primary", "secondary", "vocational", "tertiary", "unknown"]
EmploymentStatus = Literal[
    "employed", "self_employed", "unemployed", "student", "not_in_labour_force", "unknown"
]
ContactChannel = Literal["phone", "sms", "whatsapp", "email", "in_person", "none"]
MigrationPhase = Literal["pre_departure", "in_transit", "in_destination", "returnee"]
MigrationReason = Literal[
    "work", "family", "education", "protection", "environment", "economic_hardship", "other"
]
Vulnerability = Literal[
    "victim_of_trafficking",
    "unaccompanied_child",
    "separated_child",
    "gbv_survivor",
    "serious_medical_condition",
    "mental_health_condition",
    "disability",
    "pregnant_or_lactating",
    "elderly",
    "single_parent",
    "torture_survivor",
    "exploitation_or_abuse",
    "stranded_migrant",
    "other",
]
# A case with one of these is "sensitive": fewer roles may see it (contracts.md).
SENSITIVE_VULNERABILITIES = frozenset({"victim_of_trafficking", "gbv_survivor", "unaccompanied_child"})
ServiceCode = Literal[
    "information",
    "counselling",
    "legal_assistance",
    "pre_departure_orientation",
    "employment",
    "skills_training",
    "education",
    "health",
    "psychosocial_support",
    "housing",
    "economic_reintegration",
    "family_tracing",
    "documentation",
    "financial_literacy",
    "other",
]
DocumentKind = Literal[
    "passport",
    "national_id",
    "birth_certificate",
    "residence_permit",
    "travel_document",
    "work_permit",
    "other",
]
ClientStatus = Literal["open", "closed", "anonymised"]

# Seed 002, section 2.7 (case closure): the ways a case ends, planned or abrupt.
ClosureReason = Literal[
    "plan_completed",  # reintegration plan achieved; transition out of services
    "client_request",  # no longer wants to receive assistance
    "barrier_to_access",  # a major barrier to access keeps the client away
    "assistance_not_suitable",  # the assistance is no longer desirable or suitable
    "aggressive_or_threatening",  # aggressive or threatening with case managers or staff
    "negative_repercussions",  # stigma or other harm from receiving support
    "re_migrated",  # the client chose to re-migrate
    "costs_outweigh_benefits",  # the costs of receiving services outweigh their benefits
    "lost_contact",  # cannot be reached after repeated attempts
    "transferred",  # handed over to another provider (warm handoff)
    "deceased",
    "duplicate_merged",  # folded into another record (set by a merge, not by hand)
]

ConsentObtainedBy = Literal["written", "verbal", "witnessed", "via_guardian"]
ConsentDecision = Literal["permit", "deny"]
ConsentStatus = Literal["active", "withdrawn", "expired"]

FollowupChannel = Literal["in_person", "phone", "video", "home_visit", "message"]
# Seed 000: what a follow-up meeting looks at.
FollowupPoint = Literal["expectations", "needs", "self_sufficiency", "wellbeing", "workplace"]

PlanStatus = Literal["draft", "active", "under_review", "completed", "discontinued"]
ReviewOutcome = Literal["on_track", "adjusted", "needs_referral", "completed", "discontinued"]
HouseholdRelationship = Literal[
    "head",
    "spouse",
    "partner",
    "child",
    "parent",
    "sibling",
    "grandparent",
    "grandchild",
    "other_relative",
    "non_relative",
]
