"""IOM's reintegration scores calculator, reproduced exactly (rss-scoring.md)."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from passage.contracts import rss
from services.scoring import calculator
from tests.scoring.helpers import WORKED_EXAMPLE, extreme_answers


def test_the_calculators_worked_example_gives_its_published_scores() -> None:
    result = calculator.score(WORKED_EXAMPLE)
    assert abs(result.scores["economic"] - 0.635) < 1e-9
    assert abs(result.scores["social"] - 0.745) < 1e-9
    assert abs(result.scores["psychosocial"] - 0.2625) < 1e-9
    assert abs(result.scores["composite"] - 0.515) < 1e-9
    # and exactly, as fractions
    assert result.exact == {
        "economic": Fraction("0.635"),
        "social": Fraction("0.745"),
        "psychosocial": Fraction("0.2625"),
        "composite": Fraction("0.515"),
    }
    assert result.bands == {
        "economic": "standard",
        "social": "light",
        "psychosocial": "intensified",
        "composite": "standard",
    }


def test_access_to_public_services_is_the_mean_of_six_access_indicators() -> None:
    q20 = next(i for i in calculator.score(WORKED_EXAMPLE).indicators if i.key == "access_public_services")
    assert q20.points == Fraction("0.875")
    assert q20.answer is None


def test_the_composite_is_the_weighted_sum_not_the_mean_of_dimensions() -> None:
    result = calculator.score(WORKED_EXAMPLE)
    mean = sum(result.exact[d] for d in rss.DIMENSIONS) / 3
    assert result.exact["composite"] != mean


def test_need_to_remigrate_yes_takes_the_points_of_the_reason() -> None:
    wish = calculator.score({**WORKED_EXAMPLE, "remigration_reason": "wish"})
    need = calculator.score(WORKED_EXAMPLE)
    no = calculator.score(
        {k: v for k, v in WORKED_EXAMPLE.items() if k != "remigration_reason"} | {"need_to_remigrate": "no"}
    )
    # Q29 weighs .15 in the psychosocial dimension and .10 in the composite
    assert wish.exact["psychosocial"] - need.exact["psychosocial"] == Fraction("0.15")
    assert wish.exact["composite"] - need.exact["composite"] == Fraction("0.10")
    assert no.exact == wish.exact


def test_dont_know_refused_and_not_applicable_are_worth_half_and_counted() -> None:
    answers = {**WORKED_EXAMPLE, "children_in_school": "not_applicable", "food_security": "dont_know"}
    result = calculator.score(answers)
    points = {i.key: i.points for i in result.indicators}
    assert points["children_in_school"] == Fraction(1, 2)
    assert points["food_security"] == Fraction(1, 2)
    assert result.dont_know_count == 2
    assert not result.low_accuracy


def test_more_than_seven_non_answers_marks_lower_accuracy() -> None:
    keys = list(rss.INDICATORS)[:9]
    seven = {**WORKED_EXAMPLE, **dict.fromkeys(keys[:7], "dont_know")}
    eight = {**WORKED_EXAMPLE, **dict.fromkeys(keys[:8], "refused")}
    assert calculator.score(seven).dont_know_count == 7
    assert not calculator.score(seven).low_accuracy
    assert calculator.score(eight).dont_know_count == 8
    assert calculator.score(eight).low_accuracy


def test_no_debts_is_worth_one_point() -> None:
    assert rss.INDICATORS["debt_to_spending"].points("no_debts") == 1


def test_bands_use_strict_thresholds() -> None:
    assert rss.band(Fraction("0.3299")) == "intensified"
    assert rss.band(Fraction("0.33")) == "standard"
    assert rss.band(Fraction("0.66")) == "standard"
    assert rss.band(Fraction("0.6601")) == "light"


def test_problems_name_unknown_keys_unknown_options_and_missing_answers() -> None:
    answers = {k: v for k, v in WORKED_EXAMPLE.items() if k != "food_security"}
    answers |= {"shoe_size": "42", "economic_satisfaction": "ecstatic", "access_public_services": "good"}
    problems = {(p.key, p.code) for p in rss.validate_answers(answers)}
    assert problems == {
        ("shoe_size", "unknown_indicator"),
        ("economic_satisfaction", "unknown_option"),
        ("food_security", "missing_answer"),
        ("access_public_services", "derived_indicator"),
    }


def test_the_reason_is_required_only_when_the_need_to_remigrate_is_yes() -> None:
    without_reason = {k: v for k, v in WORKED_EXAMPLE.items() if k != "remigration_reason"}
    assert [p.key for p in rss.validate_answers(without_reason)] == ["remigration_reason"]
    assert rss.validate_answers({**without_reason, "need_to_remigrate": "no"}) == []


def test_weights_sum_to_one_in_each_dimension_and_composite_split_33_33_34() -> None:
    dim = {d: Fraction(0) for d in rss.DIMENSIONS}
    comp = {d: Fraction(0) for d in rss.DIMENSIONS}
    for key in rss.SCORED_ORDER:
        dimension, dw, cw = rss.weights(key)
        dim[dimension] += dw
        comp[dimension] += cw
    assert all(v == 1 for v in dim.values())
    assert comp == {
        "economic": Fraction("0.33"),
        "social": Fraction("0.33"),
        "psychosocial": Fraction("0.34"),
    }


@st.composite
def answer_sets(draw: st.DrawFn) -> dict[str, str]:
    answers = {
        key: draw(st.sampled_from(sorted(indicator.option_codes)))
        for key, indicator in rss.INDICATORS.items()
        if key != rss.REMIGRATION_REASON
    }
    if answers[rss.NEED_TO_REMIGRATE] == "yes" or draw(st.booleans()):
        answers[rss.REMIGRATION_REASON] = draw(
            st.sampled_from(sorted(rss.INDICATORS[rss.REMIGRATION_REASON].option_codes))
        )
    return answers


@settings(max_examples=300, deadline=None)
@given(answer_sets())
def test_every_score_lies_between_zero_and_one(answers: dict[str, str]) -> None:
    result = calculator.score(answers)
    for key, value in result.exact.items():
        assert 0 <= value <= 1, key
        assert result.bands[key] == rss.band(value)
    assert result.low_accuracy == (result.dont_know_count > 7)


@settings(max_examples=100, deadline=None)
@given(answer_sets())
def test_dimension_scores_are_weighted_sums_of_the_explained_contributions(answers: dict[str, str]) -> None:
    result = calculator.score(answers)
    for dimension in rss.DIMENSIONS:
        parts = [i.dimension_contribution for i in result.indicators if i.dimension == dimension]
        assert sum(parts) == result.exact[dimension]
    assert sum(i.composite_contribution for i in result.indicators) == result.exact["composite"]


def test_all_best_answers_give_one_and_all_worst_give_zero_in_every_dimension() -> None:
    best = calculator.score(extreme_answers(best=True))
    worst = calculator.score(extreme_answers(best=False))
    assert best.scores == {"economic": 1.0, "social": 1.0, "psychosocial": 1.0, "composite": 1.0}
    assert worst.scores == {"economic": 0.0, "social": 0.0, "psychosocial": 0.0, "composite": 0.0}
    assert set(best.bands.values()) == {"light"}
    assert set(worst.bands.values()) == {"intensified"}


@given(answer_sets())
def test_the_fast_integer_sum_equals_the_sum_of_every_weighted_point(answers: dict[str, str]) -> None:
    """The calculator adds integer numerators over one common denominator (and caches each
    indicator's score); the result must equal adding each indicator's exact contribution."""
    result = calculator.score(answers)
    expected = {key: Fraction(0) for key in calculator.SCORE_KEYS}
    for key in rss.SCORED_ORDER:
        dimension, dimension_weight, composite_weight = rss.weights(key)
        if key in rss.DERIVED:
            mean_of = rss.DERIVED[key].mean_of
            points = sum((rss.answer_points(k, answers) for k in mean_of), Fraction(0)) / len(mean_of)
        else:
            points = rss.answer_points(key, answers)
        expected[dimension] += points * dimension_weight
        expected["composite"] += points * composite_weight
    assert result.exact == expected
    assert all(item.scaled is not None for item in result.indicators)  # the fast path was taken
