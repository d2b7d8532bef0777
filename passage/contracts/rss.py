"""The Reintegration Sustainability Survey (RSS) as published language.

Facts of IOM's instrument (Annex 12 "Reintegration Scores Calculator", Guidance Note on M&E for
AVR(R), IOM 2018; Reintegration Handbook 2.2.5), transcribed in shared/reference/rss-scoring.md:
concept keys, dimensions, option codes with their points, and the dimension and composite weights.
Intake validates an RSS answer set with `validate_answers`; scoring computes the scores from the
same table. Pure data: no I/O.

Keys are concepts, never question numbers (IOM's documents number the questions differently).
Points and weights are exact `Fraction`s so that sums are exact; `float(...)` them for display.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

INSTRUMENT = "rss"
INSTRUMENT_VERSION = "iom-rss-2018"

Dimension = Literal["economic", "social", "psychosocial"]
DIMENSIONS: tuple[Dimension, ...] = ("economic", "social", "psychosocial")

DONT_KNOW = "dont_know"
REFUSED = "refused"
NOT_APPLICABLE = "not_applicable"
# Answers every indicator accepts; with not_applicable (where it applies) they are worth 0.5 points
# and they are what the low-accuracy count counts.
ANSWER_CODES_ANY = frozenset({DONT_KNOW, REFUSED})
NON_ANSWER_CODES = frozenset({DONT_KNOW, REFUSED, NOT_APPLICABLE})
NON_ANSWER_POINTS = Fraction(1, 2)
# "more than seven times (more than 20% of indicators)": report the count next to the scores.
LOW_ACCURACY_ABOVE = 7

# Thresholds, applied to the composite and to each dimension on its own.
INTENSIFIED_BELOW = Fraction(33, 100)
LIGHT_ABOVE = Fraction(66, 100)

Band = Literal["intensified", "standard", "light"]


@dataclass(frozen=True, slots=True)
class Option:
    code: str
    points: Fraction
    label: str


@dataclass(frozen=True, slots=True)
class Indicator:
    """One question of the survey (or the derived Q20)."""

    key: str
    dimension: Dimension | None  # None: the follow-up remigration_reason, scored through Q29
    label: str
    options: tuple[Option, ...]  # its own options, then dont_know, refused (and not_applicable)
    dimension_weight: Fraction
    composite_weight: Fraction
    # Asked only when another answer has a given code (remigration_reason: need_to_remigrate = yes).
    asked_when: tuple[str, str] | None = None

    @property
    def option_codes(self) -> frozenset[str]:
        return frozenset(option.code for option in self.options)

    def points(self, code: str) -> Fraction:
        for option in self.options:
            if option.code == code:
                return option.points
        raise KeyError(f"{self.key} has no option {code!r}")


@dataclass(frozen=True, slots=True)
class DerivedIndicator:
    """Not asked: its points are the mean of other indicators' points (Q20)."""

    key: str
    dimension: Dimension
    label: str
    mean_of: tuple[str, ...]
    dimension_weight: Fraction
    composite_weight: Fraction


def _f(text: str) -> Fraction:
    return Fraction(text)


def _scale(*pairs: tuple[str, str], not_applicable: bool = False) -> tuple[Option, ...]:
    """Own options, given best first as (code, label), with points spread evenly 1 .. 0."""
    steps = len(pairs) - 1
    own = tuple(Option(code, Fraction(steps - i, steps), label) for i, (code, label) in enumerate(pairs))
    return own + _non_answers(not_applicable)


def _coded(*triples: tuple[str, str, str], not_applicable: bool = False) -> tuple[Option, ...]:
    """Own options with explicit points (code, points, label)."""
    return tuple(Option(code, _f(points), label) for code, points, label in triples) + _non_answers(
        not_applicable
    )


def _non_answers(not_applicable: bool) -> tuple[Option, ...]:
    options: tuple[Option, ...] = (
        Option(DONT_KNOW, NON_ANSWER_POINTS, "I don't know"),
        Option(REFUSED, NON_ANSWER_POINTS, "I don't wish to answer"),
    )
    if not_applicable:
        options += (Option(NOT_APPLICABLE, NON_ANSWER_POINTS, "Not applicable"),)
    return options


_FREQUENCY_NEVER_BEST = (
    ("never", "Never"),
    ("rarely", "Rarely"),
    ("sometimes", "Sometimes"),
    ("often", "Often"),
    ("very_often", "Very often"),
)
_FREQUENCY_ALL_THE_TIME = (
    ("never", "Never"),
    ("rarely", "Rarely"),
    ("sometimes", "Sometimes"),
    ("very_often", "Very often"),
    ("all_the_time", "All the time"),
)
_ACCESS = (
    ("very_good", "Very good"),
    ("good", "Good"),
    ("fair", "Fair"),
    ("poor", "Poor"),
    ("very_poor", "Very poor"),
)
_YES_BEST = (("yes", "1", "Yes"), ("no", "0", "No"))
_NO_BEST = (("no", "1", "No"), ("yes", "0", "Yes"))


def _indicator(
    key: str,
    dimension: Dimension | None,
    label: str,
    options: tuple[Option, ...],
    dim_w: str,
    comp_w: str,
    asked_when: tuple[str, str] | None = None,
) -> Indicator:
    return Indicator(key, dimension, label, options, _f(dim_w), _f(comp_w), asked_when)


# The asked questions, in the calculator's order (Q20 is derived, below).
_QUESTIONS: tuple[Indicator, ...] = (
    # Economic
    _indicator(
        "economic_satisfaction",
        "economic",
        "Satisfaction with current economic situation",
        _scale(
            ("very_satisfied", "Very satisfied"),
            ("satisfied", "Satisfied"),
            ("ok", "OK"),
            ("dissatisfied", "Dissatisfied"),
            ("very_dissatisfied", "Very dissatisfied"),
        ),
        "0.15",
        "0.05",
    ),
    _indicator(
        "food_security",
        "economic",
        "How often food quantity or quality is reduced because of cost",
        _scale(*_FREQUENCY_NEVER_BEST),
        "0.12",
        "0.08",
    ),
    _indicator(
        "ability_to_borrow", "economic", "Ability to borrow money", _coded(*_YES_BEST), "0.08", "0.02"
    ),
    _indicator(
        "borrowing_frequency",
        "economic",
        "Frequency of borrowing money",
        _scale(*_FREQUENCY_NEVER_BEST),
        "0.10",
        "0.02",
    ),
    _indicator(
        "debt_to_spending",
        "economic",
        "Debt-to-spending ratio",
        _coded(
            ("no_debts", "1", "I don't have debts"),
            ("spending_larger", "1", "Spending is larger than debt"),
            ("debt_larger", "0", "Debt is larger than spending"),
        ),
        "0.08",
        "0.04",
    ),
    _indicator(
        "access_employment_training",
        "economic",
        "Perceived access to employment and training",
        _scale(*_ACCESS),
        "0.13",
        "0.03",
    ),
    _indicator("currently_working", "economic", "Currently working", _coded(*_YES_BEST), "0.10", "0.03"),
    _indicator(
        "productive_assets",
        "economic",
        "Ownership of productive assets",
        _coded(("at_least_one", "1", "At least one"), ("none", "0", "None")),
        "0.11",
        "0.03",
    ),
    _indicator(
        "searching_for_job", "economic", "Currently searching for a job", _coded(*_NO_BEST), "0.13", "0.03"
    ),
    # Social
    _indicator(
        "access_housing", "social", "Access to housing in the community", _scale(*_ACCESS), "0.10", "0.03"
    ),
    _indicator(
        "housing_standard",
        "social",
        "Perceived standard of housing",
        _scale(
            ("very_good", "Very good"),
            ("good", "Good"),
            ("average", "Average"),
            ("poor", "Poor"),
            ("very_poor", "Very poor"),
        ),
        "0.12",
        "0.03",
    ),
    _indicator(
        "access_education",
        "social",
        "Access to education in the community",
        _scale(*_ACCESS),
        "0.11",
        "0.03",
    ),
    _indicator(
        "children_in_school",
        "social",
        "School-age children enrolled in school",
        _coded(
            ("yes", "1", "Yes, all"),
            ("some", "0.5", "Some but not all"),
            ("none", "0", "None"),
            not_applicable=True,  # no school-age children
        ),
        "0.07",
        "0.02",
    ),
    _indicator(
        "access_justice",
        "social",
        "Access to justice and law enforcement",
        _scale(*_ACCESS),
        "0.12",
        "0.04",
    ),
    _indicator("possession_of_id", "social", "Possession of ID", _coded(*_YES_BEST), "0.05", "0.05"),
    _indicator("access_documentation", "social", "Access to documentation", _scale(*_ACCESS), "0", "0"),
    _indicator("access_water", "social", "Access to safe drinking water", _scale(*_ACCESS), "0", "0"),
    _indicator("access_health_care", "social", "Access to health care", _scale(*_ACCESS), "0.20", "0.06"),
    _indicator(
        "health_care_quality",
        "social",
        "Quality and adequacy of health care",
        _scale(
            ("very_good", "Very good"),
            ("good", "Good"),
            ("fair", "Fair"),
            ("bad", "Bad"),
            ("very_bad", "Very bad"),
            not_applicable=True,  # has not used health care
        ),
        "0.15",
        "0.03",
    ),
    # Psychosocial
    _indicator(
        "social_participation",
        "psychosocial",
        "Participation in social activities",
        _scale(
            ("very_often", "Very often"),
            ("often", "Often"),
            ("sometimes", "Sometimes"),
            ("rarely", "Rarely"),
            ("never", "Never"),
        ),
        "0.12",
        "0.04",
    ),
    _indicator(
        "support_network",
        "psychosocial",
        "Ability to rely on a support network",
        _scale(
            ("very_strong", "Very strong"),
            ("good", "Good"),
            ("fair", "Fair"),
            ("bad", "Bad"),
            ("very_bad", "Very bad"),
        ),
        "0.05",
        "0.03",
    ),
    _indicator(
        "sense_of_belonging",
        "psychosocial",
        "Sense of belonging to the community",
        _scale(
            ("agree", "Agree"),
            ("somewhat_agree", "Somewhat agree"),
            ("neither", "Neither agree nor disagree"),
            ("somewhat_disagree", "Somewhat disagree"),
            ("strongly_disagree", "Strongly disagree"),
        ),
        "0.15",
        "0.04",
    ),
    _indicator(
        "physical_security",
        "psychosocial",
        "Sense of physical security",
        _scale(
            ("very_safe", "Very safe"),
            ("safe", "Safe"),
            ("neutral", "Neutral"),
            ("unsafe", "Unsafe"),
            ("very_unsafe", "Very unsafe"),
        ),
        "0.10",
        "0.05",
    ),
    _indicator(
        "family_conflict",
        "psychosocial",
        "Conflict with family or domestic tension",
        _scale(*_FREQUENCY_NEVER_BEST),
        "0.12",
        "0.01",
    ),
    _indicator(
        "discrimination",
        "psychosocial",
        "Feeling of discrimination in the country of origin",
        _scale(*_FREQUENCY_ALL_THE_TIME),
        "0.11",
        "0",
    ),
    _indicator(
        "signs_of_distress",
        "psychosocial",
        "Signs of distress (angry, sad, afraid, stressed, lonely, low self-worth, poor concentration)",
        _scale(*_FREQUENCY_ALL_THE_TIME),
        "0.10",
        "0.04",
    ),
    _indicator(
        "wants_psych_support",
        "psychosocial",
        "Wants specialised psychological support",
        _coded(*_NO_BEST),
        "0.10",
        "0.03",
    ),
    _indicator(
        "need_to_remigrate",
        "psychosocial",
        "Need to remigrate",
        # "yes" has no points of its own: it takes remigration_reason's (see `answer_points`).
        _coded(("no", "1", "No"), ("yes", "0", "Yes (scored by remigration_reason)")),
        "0.15",
        "0.10",
    ),
    _indicator(
        "remigration_reason",
        None,
        "Reason to leave again: a wish (friends or family abroad, cultural factors, study abroad) "
        "or a need (lack of jobs, insecurity, low earnings, lack of essential services, family pressure)",
        _coded(("wish", "1", "Wish to leave"), ("need", "0", "Need to leave")),
        "0",
        "0",
        asked_when=("need_to_remigrate", "yes"),
    ),
)

# The answerable keys (what an answer set may contain), in the calculator's order.
INDICATORS: Mapping[str, Indicator] = {indicator.key: indicator for indicator in _QUESTIONS}

ACCESS_PUBLIC_SERVICES = DerivedIndicator(
    key="access_public_services",
    dimension="social",
    label="Access to public services (mean of housing, education, justice, documentation, water, "
    "health care)",
    mean_of=(
        "access_housing",
        "access_education",
        "access_justice",
        "access_documentation",
        "access_water",
        "access_health_care",
    ),
    dimension_weight=_f("0.08"),
    composite_weight=_f("0.04"),
)
DERIVED: Mapping[str, DerivedIndicator] = {ACCESS_PUBLIC_SERVICES.key: ACCESS_PUBLIC_SERVICES}

# The follow-up question and the answer that asks it.
CONDITIONAL: Mapping[str, tuple[str, str]] = {
    key: indicator.asked_when for key, indicator in INDICATORS.items() if indicator.asked_when
}
REMIGRATION_REASON = "remigration_reason"
NEED_TO_REMIGRATE = "need_to_remigrate"

# Scored indicators in the calculator's order: Q1..Q19, derived Q20, Q21..Q29.
SCORED_ORDER: tuple[str, ...] = (
    *(k for k, i in INDICATORS.items() if i.dimension == "economic"),
    *(k for k, i in INDICATORS.items() if i.dimension == "social"),
    ACCESS_PUBLIC_SERVICES.key,
    *(k for k, i in INDICATORS.items() if i.dimension == "psychosocial"),
)


def weights(key: str) -> tuple[Dimension, Fraction, Fraction]:
    """(dimension, dimension weight, composite weight) of a scored indicator."""
    if key in DERIVED:
        derived = DERIVED[key]
        return derived.dimension, derived.dimension_weight, derived.composite_weight
    indicator = INDICATORS[key]
    if indicator.dimension is None:
        raise KeyError(f"{key} is scored through {indicator.asked_when}")
    return indicator.dimension, indicator.dimension_weight, indicator.composite_weight


def is_required(key: str, answers: Mapping[str, str]) -> bool:
    condition = INDICATORS[key].asked_when
    return condition is None or answers.get(condition[0]) == condition[1]


@dataclass(frozen=True, slots=True)
class AnswerProblem:
    key: str
    code: Literal["unknown_indicator", "unknown_option", "missing_answer", "derived_indicator"]
    message: str


def validate_answers(answers: Mapping[str, str]) -> list[AnswerProblem]:
    """Everything wrong with an answer set (empty list: it can be scored).

    A follow-up answered although it was not asked (remigration_reason with need_to_remigrate
    other than yes) is not a problem: it is ignored by the score.
    """
    problems: list[AnswerProblem] = []
    for key, code in answers.items():
        if key in DERIVED:
            problems.append(
                AnswerProblem(key, "derived_indicator", f"{key} is derived from other answers, not asked")
            )
        elif key not in INDICATORS:
            problems.append(AnswerProblem(key, "unknown_indicator", f"{key} is not an RSS indicator"))
        elif code not in INDICATORS[key].option_codes:
            allowed = ", ".join(o.code for o in INDICATORS[key].options)
            problems.append(
                AnswerProblem(key, "unknown_option", f"{code!r} is not an option of {key} ({allowed})")
            )
    for key in INDICATORS:
        if key not in answers and is_required(key, answers):
            problems.append(AnswerProblem(key, "missing_answer", f"{key} must be answered"))
    return problems


def answer_points(key: str, answers: Mapping[str, str]) -> Fraction:
    """Points of an asked, scored indicator given a valid answer set (Q29 resolves through Q30)."""
    code = answers[key]
    if key == NEED_TO_REMIGRATE and code == "yes":
        return INDICATORS[REMIGRATION_REASON].points(answers[REMIGRATION_REASON])
    return INDICATORS[key].points(code)


def band(score: float | Fraction) -> Band:
    if score < INTENSIFIED_BELOW:
        return "intensified"
    if score > LIGHT_ABOVE:
        return "light"
    return "standard"
