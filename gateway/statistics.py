"""Small-cell suppression for the coordinators' statistics (GBVIMS: aggregates only, never a
person). Every count from 1 to 4 is suppressed (primary); then, so that no suppressed count can be
worked out by subtracting published counts from a total, every line of the table (the cells that
differ in one dimension only, whose sum another breakdown publishes, and the whole table, whose sum
is the total) that holds exactly one suppressed cell gets a second one: its smallest published
non-zero cell, or a zero if there is none (complementary). Repeated until no line holds a lone
suppressed cell."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

THRESHOLD = 5


@dataclass(frozen=True)
class Cell:
    dimensions: tuple[tuple[str, Any], ...]
    count: int | None  # None: suppressed
    suppressed: bool


@dataclass(frozen=True)
class SuppressedTable:
    group_by: tuple[str, ...]
    cells: tuple[Cell, ...]
    total: int | None


def _lines(keys: Sequence[tuple[Any, ...]], dims: int) -> list[list[int]]:
    lines: list[list[int]] = [list(range(len(keys)))]  # the whole table: its sum is the total
    for d in range(dims):
        groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
        for i, key in enumerate(keys):
            groups[key[:d] + key[d + 1 :]].append(i)
        lines.extend(g for g in groups.values() if len(g) > 1)
    return lines


def suppress(group_by: Sequence[str], raw_cells: Sequence[Mapping[str, Any]]) -> SuppressedTable:
    dims = tuple(group_by)
    keys = [tuple(c.get(d) for d in dims) for c in raw_cells]
    counts = [int(c.get("count", 0)) for c in raw_cells]
    hidden = [0 < n < THRESHOLD for n in counts]
    lines = _lines(keys, len(dims))
    changed = True
    while changed:
        changed = False
        for line in lines:
            lone = [i for i in line if hidden[i]]
            if len(lone) != 1:
                continue
            # The smallest published non-zero cell; failing that a zero (else: total minus zeros).
            candidates = [i for i in line if not hidden[i]]
            if candidates:
                hidden[min(candidates, key=lambda i: (counts[i] == 0, counts[i]))] = True
                changed = True
    total = sum(counts)
    cells = tuple(
        Cell(tuple(zip(dims, key, strict=True)), None if hid else n, hid)
        for key, n, hid in zip(keys, counts, hidden, strict=True)
    )
    return SuppressedTable(dims, cells, total if total >= THRESHOLD else None)
