"""What each role may do through the gateway: its purposes of use and its level of access (seed 004:
permission levels, some staff see only summary client data)."""

from __future__ import annotations

from enum import StrEnum

from passage.auth import Role


class AccessLevel(StrEnum):
    FULL = "full"  # every category the other rules allow
    SUMMARY = "summary"  # identity and case status only
    NONE = "none"  # no client-level data at all (aggregates only)


# Supervisor-capable: may see sensitive cases (trafficking, GBV, unaccompanied children) and may
# break the glass.
SUPERVISOR_CAPABLE = frozenset({Role.SUPERVISOR.value})

# A token carrying this scope is held to summary access whatever its roles (a receptionist, an
# intern): the handbook's "permission levels set for some staff to only view summary client data".
SUMMARY_ONLY_SCOPE = "passage:summary_only"

CASEWORK = frozenset({"case_management", "referral", "follow_up"})

PURPOSES_BY_ROLE: dict[str, frozenset[str]] = {
    Role.CASE_WORKER.value: CASEWORK,
    Role.SUPERVISOR.value: CASEWORK | {"emergency", "statistics"},
    Role.AGENCY_ADMIN.value: CASEWORK | {"statistics"},
    Role.DATA_PROTECTION_OFFICER.value: frozenset({"case_management", "statistics"}),
    Role.COORDINATOR.value: frozenset({"statistics"}),
    Role.PARTNER_SYSTEM.value: CASEWORK,
    # A component's own identity never comes through the public door.
    Role.SERVICE.value: frozenset(),
}

LEVEL_BY_ROLE: dict[str, AccessLevel] = {
    Role.CASE_WORKER.value: AccessLevel.FULL,
    Role.SUPERVISOR.value: AccessLevel.FULL,
    Role.PARTNER_SYSTEM.value: AccessLevel.FULL,
    Role.AGENCY_ADMIN.value: AccessLevel.SUMMARY,
    Role.DATA_PROTECTION_OFFICER.value: AccessLevel.SUMMARY,
    Role.COORDINATOR.value: AccessLevel.NONE,
    Role.SERVICE.value: AccessLevel.NONE,
}

_RANK = {AccessLevel.NONE: 0, AccessLevel.SUMMARY: 1, AccessLevel.FULL: 2}


def purposes_for(roles: frozenset[str]) -> frozenset[str]:
    allowed: frozenset[str] = frozenset()
    for role in roles:
        allowed |= PURPOSES_BY_ROLE.get(role, frozenset())
    return allowed


def access_level(roles: frozenset[str], scopes: frozenset[str] = frozenset()) -> AccessLevel:
    """The highest level any of the roles gives, capped at summary by the summary-only scope."""
    best = max((LEVEL_BY_ROLE.get(r, AccessLevel.NONE) for r in roles), key=_RANK.__getitem__, default=None)
    level = best or AccessLevel.NONE
    if SUMMARY_ONLY_SCOPE in scopes and level is AccessLevel.FULL:
        return AccessLevel.SUMMARY
    return level


def supervisor_capable(roles: frozenset[str]) -> bool:
    return not roles.isdisjoint(SUPERVISOR_CAPABLE)
