"""The numbers of the evolution over time: growth per year and doubling times, fitted by least
squares of log10(value) against the date, with a seeded bootstrap interval.

A question over the knowledge base (layer of `query` and `graph`): entries in, a `TrendsView` out.
numpy is imported inside the fit, so no other command pays for it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

# quantity -> (the entry field it reads, the words for it, the unit)
QUANTITIES = {
    "params": ("params", "parameters", "parameters"),
    "context": ("context", "context windows", "tokens"),
    "tokens": ("training_tokens", "training data", "tokens"),
    "compute": ("training_compute", "training compute", "FLOP"),
}
BOOTSTRAP_SAMPLES = 2000
INTERVAL = 0.90
# Below this many points a bootstrap resample often holds two points a few weeks apart, whose
# slope is meaningless: the fit is shown without an interval.
MIN_FOR_INTERVAL = 6


@dataclass(frozen=True)
class Point:
    """One entry's number: the largest it states (its biggest model, its longest context)."""

    entry_id: str
    name: str
    date: str
    when: float  # fractional year
    value: float
    estimated: bool = False
    active: float | None = None  # params of a mixture of experts: the active count of that size


@dataclass(frozen=True)
class Fit:
    slope: float  # log10 units per year
    low: float | None  # the bootstrap interval of the slope (None: too few points for one)
    high: float | None

    @property
    def growth(self) -> float:
        """x per year."""
        return 10 ** self.slope

    @staticmethod
    def doubling(slope: float) -> float | None:
        """Months to double at this slope; None when the fit does not grow."""
        return 12 * math.log10(2) / slope if slope > 0 else None


@dataclass(frozen=True)
class TrendRow:
    quantity: str
    words: str
    unit: str
    counted: int  # entries with the number (that entered the fit)
    excluded: int  # entries in range without it
    fit: Fit | None  # None with fewer than three points over at least two dates
    first: Point | None  # the first record holder
    latest: Point | None  # the latest record holder
    points: list[Point] = field(default_factory=list)

    def sentence(self) -> str:
        if self.fit is None:
            return f"{self.words.capitalize()}: too few entries with a value to fit a trend ({self.counted})."
        years = f"between {self.points[0].date[:4]} and {self.points[-1].date[:4]}"
        months = Fit.doubling(self.fit.slope)
        if months is None:
            return f"{self.words.capitalize()} did not grow {years} in these entries."
        return (f"{self.words.capitalize()} doubled about every {_round(months)} months {years} "
                f"({self.fit.growth:.2g}x per year, {self.counted} entries).")

    def to_json(self) -> dict:
        out = {"quantity": self.quantity, "unit": self.unit, "entries": self.counted, "excluded": self.excluded,
               "first_record": asdict(self.first) if self.first else None,
               "latest_record": asdict(self.latest) if self.latest else None, "summary": self.sentence()}
        if self.fit is None:
            out.update(growth_per_year=None, growth_interval=None, doubling_months=None, doubling_interval=None)
        else:
            f = self.fit
            has_interval = f.low is not None
            out.update(
                growth_per_year=f.growth, growth_interval=[10 ** f.low, 10 ** f.high] if has_interval else None,
                doubling_months=Fit.doubling(f.slope),
                # a faster growth (the high slope) is a shorter doubling time: the interval flips
                doubling_interval=[Fit.doubling(f.high), Fit.doubling(f.low)] if has_interval else None,
            )
        return out


@dataclass(frozen=True)
class TrendsView:
    rows: list[TrendRow]
    since: int | None
    until: int | None
    kind: str | None
    frontier: bool
    seed: int

    def to_json(self) -> dict:
        return {"since": self.since, "until": self.until, "kind": self.kind, "frontier": self.frontier,
                "interval": INTERVAL, "bootstrap_samples": BOOTSTRAP_SAMPLES, "seed": self.seed,
                "quantities": [row.to_json() for row in self.rows]}


def _round(months: float) -> str:
    return f"{months:.0f}" if months >= 10 else f"{months:.1f}"


def fractional_year(date: str) -> float:
    """'2020-05' -> 2020.37 (mid-month); '2020-05-28' -> the day's place in the year."""
    year, month = int(date[:4]), int(date[5:7])
    day = int(date[8:10]) if len(date) >= 10 else 15
    return year + (month - 1) / 12 + (day - 1) / 365


def point(entry, quantity: str) -> Point | None:
    """The entry's number for `quantity`, or None when it states none."""
    items = getattr(entry, QUANTITIES[quantity][0])
    if not items:
        return None
    when = fractional_year(entry.date)
    if quantity == "params":
        top = max(items, key=lambda p: p.total)
        return Point(entry.id, entry.name, entry.date, when, float(top.total),
                     active=float(top.active) if top.active is not None else None)
    top = max(items, key=lambda m: m.value)
    return Point(entry.id, entry.name, entry.date, when, top.value, estimated=top.estimated)


def records(points: list[Point]) -> list[Point]:
    """The points that set a new record when they appeared (strictly above every earlier one)."""
    out: list[Point] = []
    for p in sorted(points, key=lambda p: (p.when, p.entry_id)):
        if not out or p.value > out[-1].value:
            out.append(p)
    return out


def fit_growth(points: list[Point], *, seed: int = 0, samples: int = BOOTSTRAP_SAMPLES) -> Fit | None:
    """Least squares of log10(value) on the year, and a percentile bootstrap of the slope
    (resampling points with replacement; resamples with a single date are skipped)."""
    if len(points) < 3 or len({p.when for p in points}) < 2:
        return None
    import numpy as np

    x = np.array([p.when for p in points])
    y = np.log10(np.array([p.value for p in points]))
    slope = _slopes(x[None, :], y[None, :])[0]
    if len(points) < MIN_FOR_INTERVAL:
        return Fit(float(slope), None, None)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(points), size=(samples, len(points)))
    boot = _slopes(x[picks], y[picks])
    boot = boot[np.isfinite(boot)]
    tail = (1 - INTERVAL) / 2 * 100
    low, high = np.percentile(boot, [tail, 100 - tail])
    return Fit(float(slope), float(low), float(high))


def _slopes(x, y):
    """Row-wise least-squares slopes; NaN where a row's x values are all equal."""
    import numpy as np

    dx = x - x.mean(axis=1, keepdims=True)
    dy = y - y.mean(axis=1, keepdims=True)
    var = (dx * dx).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(var > 0, (dx * dy).sum(axis=1) / np.where(var > 0, var, 1), np.nan)


def trends(entries, *, since: int | None = None, until: int | None = None, kind: str | None = None,
           frontier: bool = False, seed: int = 0) -> TrendsView:
    """Growth of every quantity over `entries` (already filtered by year and kind)."""
    entries = list(entries)
    rows = []
    for quantity, (_, words, unit) in QUANTITIES.items():
        found = [p for p in (point(e, quantity) for e in entries) if p is not None]
        found.sort(key=lambda p: (p.when, p.entry_id))
        best = records(found)
        fitted = best if frontier else found
        rows.append(TrendRow(
            quantity=quantity, words=words, unit=unit, counted=len(fitted), excluded=len(entries) - len(found),
            fit=fit_growth(fitted, seed=seed), first=best[0] if best else None,
            latest=best[-1] if best else None, points=fitted,
        ))
    return TrendsView(rows, since, until, kind, frontier, seed)
