"""IOM's reintegration scores calculator, on the instrument of `passage.contracts.rss`.

Pure functions. The arithmetic is exact (fractions) and converted to float once at the end, so a
score equals the calculator's to the last bit a float can hold and a band never flips on a
rounding error at 0.33 or 0.66.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from passage.contracts import rss

SCORE_KEYS: tuple[str, ...] = (*rss.DIMENSIONS, "composite")


class InvalidAnswers(Exception):
    def __init__(self, problems: list[rss.AnswerProblem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class IndicatorScore:
    key: str
    dimension: rss.Dimension
    answer: str | None  # None for the derived access_public_services
    points: Fraction
    dimension_weight: Fraction
    composite_weight: Fraction
    note: str | None = None
    # Derived once (an indicator's score is cached per answer): the contributions, exactly and as
    # integers over the common denominator `_SCALE` (None if one does not divide it).
    dimension_contribution: Fraction = field(init=False)
    composite_contribution: Fraction = field(init=False)
    scaled: tuple[int, int] | None = field(init=False)
    # points, dimension weight, composite weight, dimension and composite contribution, as floats
    floats: tuple[float, float, float, float, float] = field(init=False)

    def __post_init__(self) -> None:
        dimension = self.points * self.dimension_weight
        composite = self.points * self.composite_weight
        object.__setattr__(self, "dimension_contribution", dimension)
        object.__setattr__(self, "composite_contribution", composite)
        values = (self.points, self.dimension_weight, self.composite_weight, dimension, composite)
        object.__setattr__(self, "floats", tuple(float(x) for x in values))
        over = (dimension * _SCALE, composite * _SCALE)
        whole = all(x.denominator == 1 for x in over)
        object.__setattr__(self, "scaled", (over[0].numerator, over[1].numerator) if whole else None)


def _common_denominator() -> int:
    """A denominator every contribution divides: the options' points (a derived mean adds its count)
    times the weights' denominators. A term that does not fit falls back to Fraction sums anyway."""
    scale = 1
    for key in rss.SCORED_ORDER:
        _, dimension_weight, composite_weight = rss.weights(key)
        sources = rss.DERIVED[key].mean_of if key in rss.DERIVED else (key,)
        points = 1
        for source in sources:
            for option in rss.INDICATORS[source].options:
                points = math.lcm(points, option.points.denominator)
        if key in rss.DERIVED:
            points *= len(sources)
        elif key == rss.NEED_TO_REMIGRATE:
            for option in rss.INDICATORS[rss.REMIGRATION_REASON].options:
                points = math.lcm(points, option.points.denominator)
        scale = math.lcm(scale, points * dimension_weight.denominator, points * composite_weight.denominator)
    return scale


_SCALE = _common_denominator()


@dataclass(frozen=True, slots=True)
class RssResult:
    exact: Mapping[str, Fraction]  # economic, social, psychosocial, composite
    dont_know_count: int
    indicators: tuple[IndicatorScore, ...]

    @property
    def scores(self) -> dict[str, float]:
        return {key: float(value) for key, value in self.exact.items()}

    @property
    def bands(self) -> dict[str, rss.Band]:
        return {key: rss.band(value) for key, value in self.exact.items()}

    @property
    def low_accuracy(self) -> bool:
        return self.dont_know_count > rss.LOW_ACCURACY_ABOVE


def score(answers: Mapping[str, str]) -> RssResult:
    """Score a complete answer set; raises InvalidAnswers naming every problem."""
    problems = rss.validate_answers(answers)
    if problems:
        raise InvalidAnswers(problems)
    indicators = tuple(_indicator_score(key, answers) for key in rss.SCORED_ORDER)
    return RssResult(exact=_sum(indicators), dont_know_count=_non_answers(answers), indicators=indicators)


def _sum(indicators: tuple[IndicatorScore, ...]) -> dict[str, Fraction]:
    """The dimension scores and the composite: integer sums over `_SCALE`, one Fraction each at the
    end (exact, and far cheaper than adding thirty Fractions); Fractions if a term does not fit."""
    totals = dict.fromkeys(SCORE_KEYS, 0)
    for item in indicators:
        if item.scaled is None:
            return _sum_fractions(indicators)
        totals[item.dimension] += item.scaled[0]
        totals["composite"] += item.scaled[1]
    return {key: Fraction(total, _SCALE) for key, total in totals.items()}


def _sum_fractions(indicators: tuple[IndicatorScore, ...]) -> dict[str, Fraction]:
    exact = {dimension: Fraction(0) for dimension in SCORE_KEYS}
    for item in indicators:
        exact[item.dimension] += item.dimension_contribution
        exact["composite"] += item.composite_contribution
    return exact


def _indicator_score(key: str, answers: Mapping[str, str]) -> IndicatorScore:
    """The indicator's score, from the answers it depends on (cached: few combinations recur)."""
    if key in rss.DERIVED:
        depends = rss.DERIVED[key].mean_of
    elif key == rss.NEED_TO_REMIGRATE and answers[key] == "yes":
        depends = (key, rss.REMIGRATION_REASON)
    else:
        depends = (key,)
    return _scored(key, tuple((k, answers[k]) for k in depends))


@functools.lru_cache(maxsize=8192)
def _scored(key: str, relevant: tuple[tuple[str, str], ...]) -> IndicatorScore:
    return _compute(key, dict(relevant))


def _compute(key: str, answers: Mapping[str, str]) -> IndicatorScore:
    dimension, dim_w, comp_w = rss.weights(key)
    if key in rss.DERIVED:
        derived = rss.DERIVED[key]
        points = sum((rss.answer_points(k, answers) for k in derived.mean_of), Fraction(0)) / len(
            derived.mean_of
        )
        mean = "derived: mean of " + ", ".join(derived.mean_of)
        return IndicatorScore(key, dimension, None, points, dim_w, comp_w, mean)
    answer = answers[key]
    note: str | None = None
    if key == rss.NEED_TO_REMIGRATE and answer == "yes":
        note = f"yes: scored by {rss.REMIGRATION_REASON} = {answers[rss.REMIGRATION_REASON]}"
    elif answer in rss.NON_ANSWER_CODES:
        note = f"{answer}: {float(rss.NON_ANSWER_POINTS)} points"
    return IndicatorScore(key, dimension, answer, rss.answer_points(key, answers), dim_w, comp_w, note)


def _non_answers(answers: Mapping[str, str]) -> int:
    """dont_know, refused and not_applicable among the answers that count (an unasked follow-up does not)."""
    return sum(
        1 for key, code in answers.items() if code in rss.NON_ANSWER_CODES and rss.is_required(key, answers)
    )
