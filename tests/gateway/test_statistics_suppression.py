"""Small cells are suppressed, and no suppressed cell can be worked out from the totals."""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.statistics import THRESHOLD, suppress


def table(counts: dict[tuple[str, str], int]) -> list[dict[str, Any]]:
    return [{"area": a, "gender": g, "count": n} for (a, g), n in counts.items()]


def published(result: Any) -> dict[tuple[Any, ...], int | None]:
    return {tuple(v for _, v in c.dimensions): c.count for c in result.cells}


def test_every_cell_under_five_is_suppressed() -> None:
    result = suppress(
        ["area"],
        [{"area": "north", "count": 3}, {"area": "south", "count": 40}, {"area": "east", "count": 12}],
    )
    shown = published(result)
    assert shown[("north",)] is None


def test_a_lone_suppressed_cell_cannot_be_recovered_from_the_total() -> None:
    rows = [{"area": "north", "count": 3}, {"area": "south", "count": 40}, {"area": "east", "count": 12}]
    result = suppress(["area"], rows)
    shown = published(result)
    # The total is published; were "east" published too, north = 55 - 40 - 12.
    assert result.total == 55
    assert shown[("east",)] is None
    assert shown[("south",)] == 40


def test_differencing_a_two_way_table_against_its_margins_reveals_nothing() -> None:
    counts = {
        ("north", "female"): 2,
        ("north", "male"): 30,
        ("north", "other"): 9,
        ("south", "female"): 25,
        ("south", "male"): 18,
        ("south", "other"): 7,
        ("east", "female"): 11,
        ("east", "male"): 14,
        ("east", "other"): 6,
    }
    result = suppress(["area", "gender"], table(counts))
    shown = published(result)
    # An attacker also has every margin (another query grouped by one dimension) and the total.
    margins: dict[tuple[int, str], int] = defaultdict(int)
    for (a, g), n in counts.items():
        margins[(0, a)] += n
        margins[(1, g)] += n
    for (a, g), value in shown.items():
        if value is not None:
            continue
        for dim, key in ((0, a), (1, g)):
            line = [k for k in counts if k[dim] == key]
            unknown = [k for k in line if shown[k] is None]
            assert len(unknown) >= 2, f"{(a, g)} = margin {key} minus published cells"
            derived = margins[(dim, key)] - sum(shown[k] or 0 for k in line)
            assert derived != counts[(a, g)] or len(unknown) > 1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=30), min_size=6, max_size=6))
def test_no_line_of_any_table_holds_a_lone_suppressed_cell(values: list[int]) -> None:
    areas, genders = ("a", "b", "c"), ("f", "m")
    counts = dict(zip(itertools.product(areas, genders), values, strict=True))
    result = suppress(["area", "gender"], table(counts))
    shown = published(result)
    assert all(v is None for k, v in shown.items() if 0 < counts[k] < THRESHOLD)
    lines = (
        [list(counts)]
        + [[k for k in counts if k[0] == a] for a in areas]
        + [[k for k in counts if k[1] == g] for g in genders]
    )
    for line in lines:
        if sum(counts[k] for k in line) < THRESHOLD:
            continue  # that margin is a small cell itself: no breakdown publishes it
        hidden = [k for k in line if shown[k] is None]
        assert len(hidden) != 1, f"line {line}: {hidden[0]} = line total minus the rest"
    assert result.total is None or result.total >= THRESHOLD
