"""Ranking directory services and peer mentors for a client. Pure functions over the projection.

Fit is a weighted sum of plain criteria, each reported as a reason so a case worker can see why a
provider ranks where it does. Eligibility and a full mentor are filters, not penalties.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.scoring.models import DirectoryService
from services.scoring.schemas import Area, MentorMatchRequest, ServiceMatchRequest

# Service fit: needs covered dominate; then language, area, capacity.
W_NEEDS = 0.5
W_LANGUAGE = 0.2
W_AREA = 0.15
W_CAPACITY = 0.15
WAITING_DAYS_FOR_ZERO = 60  # a waiting time this long or longer earns no capacity credit

# Mentor fit (seed 001: shared language, origin, gender preference, area, load).
M_LANGUAGE = 0.35
M_ORIGIN = 0.2
M_GENDER = 0.15
M_AREA = 0.15
M_LOAD = 0.15


@dataclass(slots=True)
class Ranked:
    fit: float
    reasons: list[str] = field(default_factory=list)


def _norm(values: Iterable[str | None]) -> list[str]:
    return [v.strip().lower() for v in values if v and v.strip()]


def _primary(tag: str) -> str:
    return tag.split("-")[0].lower()


def _area_levels(area: Area | None) -> list[tuple[str, str, float]]:
    """(level, code, credit): the most specific level earns the most."""
    if area is None:
        return []
    levels = [("admin3", area.admin3, 1.0), ("admin2", area.admin2, 0.8), ("admin1", area.admin1, 0.6)]
    return [(name, value.lower(), credit) for name, value, credit in levels if value]


def _eligible(service: DirectoryService, request: ServiceMatchRequest) -> str | None:
    """Why the client is not eligible, or None."""
    rules: dict[str, Any] = service.eligibility or {}
    if request.age is not None:
        if isinstance(rules.get("minimum_age"), int) and request.age < rules["minimum_age"]:
            return f"minimum age {rules['minimum_age']}"
        if isinstance(rules.get("maximum_age"), int) and request.age > rules["maximum_age"]:
            return f"maximum age {rules['maximum_age']}"
    genders = rules.get("genders") or []
    if genders and (request.gender or "").lower() not in genders:
        return "serves " + ", ".join(genders)
    required = rules.get("attributes") or []
    held = set(_norm(request.attributes))
    missing = [a for a in required if a not in held]
    if missing:
        return "requires " + ", ".join(missing)
    return None


def rank_service(service: DirectoryService, request: ServiceMatchRequest) -> Ranked | None:
    """The service's fit for the client, or None when it cannot serve them."""
    if service.status != "active" or _eligible(service, request) is not None:
        return None
    ranked = Ranked(0.0)
    needs = _norm(request.needs)
    if needs:
        covered = [n for n in needs if n in service.terms]
        if not covered:
            return None
        ranked.fit += W_NEEDS * len(covered) / len(needs)
        ranked.reasons.append(f"covers {len(covered)} of {len(needs)} needs: {', '.join(covered)}")
    else:
        ranked.fit += W_NEEDS
    if request.language:
        wanted = _primary(request.language)
        if wanted in {_primary(lang) for lang in service.languages}:
            ranked.fit += W_LANGUAGE
            ranked.reasons.append(f"offered in {request.language}")
        else:
            ranked.reasons.append(f"not offered in {request.language}: an interpreter may be needed")
    _score_area(ranked, service.areas, request.area)
    _score_capacity(ranked, service)
    return ranked


def _score_area(ranked: Ranked, areas: Sequence[str], area: Area | None) -> None:
    if not areas:
        ranked.fit += W_AREA * 0.5
        ranked.reasons.append("no service area given (national or remote)")
        return
    for level, code, credit in _area_levels(area):
        if code in areas:
            ranked.fit += W_AREA * credit
            ranked.reasons.append(f"serves the client's {level} ({code})")
            return
    if area is not None:
        ranked.reasons.append("outside the client's area")


def _score_capacity(ranked: Ranked, service: DirectoryService) -> None:
    if service.open_slots is None:
        ranked.fit += W_CAPACITY * 0.5
        ranked.reasons.append("capacity unknown")
    elif service.open_slots <= 0:
        ranked.reasons.append("no open slots")
    else:
        waiting = service.waiting_time_days or 0
        credit = max(0.0, 1.0 - waiting / WAITING_DAYS_FOR_ZERO)
        ranked.fit += W_CAPACITY * credit
        ranked.reasons.append(f"{service.open_slots} open slots, waiting time {waiting} days")


def rank_services(
    services: Iterable[DirectoryService], request: ServiceMatchRequest
) -> tuple[list[tuple[DirectoryService, Ranked]], int]:
    """Best first (ties: more open slots, then id, so the order is stable); and how many were left out."""
    ranked: list[tuple[DirectoryService, Ranked]] = []
    excluded = 0
    for service in services:
        result = rank_service(service, request)
        if result is None:
            excluded += 1
        else:
            ranked.append((service, result))
    ranked.sort(key=lambda pair: (-round(pair[1].fit, 9), -(pair[0].open_slots or 0), pair[0].service_id))
    return ranked[: request.limit], excluded


def rank_mentor(mentor: dict[str, Any], request: MentorMatchRequest) -> Ranked | None:
    """A mentor's fit for a mentee, or None when full or of a gender the mentee did not ask for."""
    active = int(mentor.get("active_mentees") or 0)
    maximum = mentor.get("max_mentees")
    if isinstance(maximum, int) and active >= maximum:
        return None
    gender = (mentor.get("gender") or "").lower()
    wanted = request.gender_preference
    if wanted == "same":
        if not request.gender or gender != request.gender.lower():
            return None
    elif wanted in ("female", "male") and gender != wanted:
        return None
    ranked = Ranked(0.0)
    if wanted != "any":
        ranked.fit += M_GENDER
        ranked.reasons.append(f"gender preference met ({wanted})")
    shared = sorted(
        {_primary(lang) for lang in request.languages} & {_primary(x) for x in mentor["languages"]}
    )
    if shared:
        ranked.fit += M_LANGUAGE
        ranked.reasons.append("shares " + ", ".join(shared))
    elif request.languages:
        ranked.reasons.append("no shared language")
    if request.origin and (mentor.get("origin") or "") == request.origin.lower():
        ranked.fit += M_ORIGIN
        ranked.reasons.append(f"same origin ({request.origin})")
    mentor_area = mentor.get("area")
    for level, code, credit in _area_levels(request.area):
        if mentor_area == code:
            ranked.fit += M_AREA * credit
            ranked.reasons.append(f"lives in the mentee's {level}")
            break
    load = active / maximum if isinstance(maximum, int) and maximum > 0 else 0.5
    ranked.fit += M_LOAD * (1 - load)
    ranked.reasons.append(f"{active} of {maximum if maximum is not None else '?'} mentees")
    return ranked


def rank_mentors(
    programmes: Iterable[DirectoryService], request: MentorMatchRequest
) -> list[tuple[DirectoryService, dict[str, Any], Ranked]]:
    wanted = set(request.programme_ids)
    ranked = []
    for programme in programmes:
        if programme.status != "active" or (wanted and programme.service_id not in wanted):
            continue
        for mentor in programme.mentors:
            result = rank_mentor(mentor, request)
            if result is not None:
                ranked.append((programme, mentor, result))
    ranked.sort(key=lambda t: (-round(t[2].fit, 9), int(t[1].get("active_mentees") or 0), t[1]["id"]))
    return ranked[: request.limit]
