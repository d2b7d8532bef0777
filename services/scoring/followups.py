"""Vulnerability triage and the follow-up schedule it calls for (Reintegration Handbook 2.2.5 and
"Follow-up meetings"). Pure functions: the service stores and arms what they return."""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from passage.contracts.scoring import Band, Intensity

# Flags that call for intensive follow-up, in the order their rule is reported.
INTENSIVE_FLAGS: tuple[str, ...] = (
    "victim_of_trafficking",
    "unaccompanied_child",
    "gbv_survivor",
    "serious_medical_condition",
)
TRAFFICKING = "victim_of_trafficking"


@dataclass(frozen=True, slots=True)
class TriageDecision:
    intensity: Intensity
    rule: str  # the rule that fired


def triage(protection_flags: Iterable[str], composite_band: Band | None = None) -> TriageDecision:
    """Protection flags first; without any, the latest RSS composite band; otherwise standard."""
    flags = set(protection_flags)
    for flag in INTENSIVE_FLAGS:
        if flag in flags:
            return TriageDecision("intensive", flag)
    if composite_band == "intensified":
        return TriageDecision("intensive", "rss_composite_intensified")
    if composite_band == "light":
        return TriageDecision("light", "rss_composite_light")
    return TriageDecision("standard", "no_protection_flags")


@dataclass(frozen=True, slots=True)
class PlannedItem:
    instrument: str  # rss, follow_up, monitoring
    kind: str  # rss, follow_up, mid_term_monitoring, final_monitoring
    month: int

    @property
    def round(self) -> str:
        return f"m{self.month:02d}"


# Follow-up meetings, in months after the plan's start.
# Victims of trafficking (Handbook): monthly for the first three months, twice between months
# three and nine, once in the twelfth month; on past month 12 while assistance is extended.
TRAFFICKING_MONTHS: tuple[int, ...] = (1, 2, 3, 6, 9, 12)
TRAFFICKING_EXTENDED_MONTHS: tuple[int, ...] = (15, 18, 21, 24)
# Others: frequency by need (the Handbook leaves it to the case manager); these are our defaults.
FOLLOW_UP_MONTHS: dict[Intensity, tuple[int, ...]] = {
    "intensive": (1, 2, 3, 5, 7, 9, 12, 15),
    "standard": (1, 3, 9, 12, 15),
    "light": (3, 12),
}
# Everyone: a mid-term monitoring point six months after the plan, a final one about twelve months later.
MID_TERM_MONTH = 6
FINAL_MONTH = 18
# The RSS, when it is the baseline tool: every three months over the follow-up period.
RSS_MONTHS: tuple[int, ...] = (3, 6, 9, 12, 15, 18)


def plan(
    *, intensity: Intensity, trafficking: bool, assistance_extended: bool, rss_baseline: bool = True
) -> list[PlannedItem]:
    """The schedule's items for a plan, by month; dates come from `due_on`."""
    if trafficking:
        months: Sequence[int] = TRAFFICKING_MONTHS + (
            TRAFFICKING_EXTENDED_MONTHS if assistance_extended else ()
        )
    else:
        months = FOLLOW_UP_MONTHS[intensity]
    items = [PlannedItem("follow_up", "follow_up", m) for m in months]
    items.append(PlannedItem("monitoring", "mid_term_monitoring", MID_TERM_MONTH))
    items.append(PlannedItem("monitoring", "final_monitoring", FINAL_MONTH))
    if rss_baseline:
        items.extend(PlannedItem("rss", "rss", m) for m in RSS_MONTHS)
    return sorted(items, key=lambda i: (i.month, i.instrument))


def add_months(start: date, months: int) -> date:
    """The same day `months` later, or that month's last day when it is shorter (31 Jan + 1 = 28/29 Feb)."""
    year, month0 = divmod(start.month - 1 + months, 12)
    year += start.year
    day = min(start.day, calendar.monthrange(year, month0 + 1)[1])
    return date(year, month0 + 1, day)


def due_on(start: date, item: PlannedItem) -> date:
    return add_months(start, item.month)
