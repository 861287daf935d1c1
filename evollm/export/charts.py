"""The numbers behind the charts: parameter counts over time, entries per year and kind, tallies.

Shared by the terminal plots (`plots.py`), the SVG chart of the HTML page (`svg.py`) and
`evollm stats`, so all three always show the same numbers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from evollm.trends import fractional_year
from evollm.vocab import KINDS


@dataclass(frozen=True)
class ParamPoint:
    """One released model size: an item of an entry's `params`."""

    entry_id: str
    name: str  # the entry's name (GPT-3)
    label: str  # the size's own label (175B, XL, ...)
    date: str
    when: float  # the date as a fractional year, for the x axis
    total: int
    active: int | None  # a mixture of experts: parameters used per token
    architecture: str | None
    largest: bool  # the entry's largest size: the one that carries the entry's name on a chart


def measure_points(entries, name: str) -> list[ParamPoint]:
    """Every value of one of the `MEASURES` fields (context, training_tokens, training_compute) as
    chart points, in date order; `total` holds the value."""
    points = []
    for entry in entries:
        items = getattr(entry, name)
        if not items:
            continue
        top = max(range(len(items)), key=lambda i: items[i].value)
        for i, m in enumerate(items):
            points.append(ParamPoint(entry.id, entry.name, m.label or "", entry.date, fractional_year(entry.date),
                                     m.value, None, entry.architecture, i == top))
    return points


def param_points(entries) -> list[ParamPoint]:
    """Every size of every entry that states one, in date order."""
    points = []
    for entry in entries:
        if not entry.params:
            continue
        top = max(range(len(entry.params)), key=lambda i: entry.params[i].total)
        for i, size in enumerate(entry.params):
            points.append(ParamPoint(
                entry.id, entry.name, size.label, entry.date, fractional_year(entry.date), size.total,
                size.active, entry.architecture, i == top,
            ))
    return points


def points_json(points: list[ParamPoint], value_key: str = "total") -> list[dict]:
    """`value_key`: "total" for parameter counts (with "active"), "value" for the other numbers."""
    if value_key != "total":
        return [{"id": p.entry_id, "name": p.name, "label": p.label, "date": p.date, value_key: p.total}
                for p in points]
    return [{"id": p.entry_id, "name": p.name, "label": p.label, "date": p.date, "total": p.total,
             "active": p.active} for p in points]


def per_year_by_kind(entries) -> tuple[list[int], dict[str, list[int]]]:
    """The years with entries, and per kind a count per year."""
    entries = list(entries)
    years = sorted({e.year for e in entries})
    counts = Counter((e.kind, e.year) for e in entries)
    kinds = [k for k in KINDS if any(counts[(k, y)] for y in years)]
    return years, {k: [counts[(k, y)] for y in years] for k in kinds}


def count_json(entries) -> list[dict]:
    """Entries per year and kind: [{"year": 2019, "model": 3, ...}, ...] (what `plot count --json` prints)."""
    years, by_kind = per_year_by_kind(entries)
    return [{"year": y, **{k: counts[i] for k, counts in by_kind.items()}} for i, y in enumerate(years)]
