"""What every demo returns: named checks with measured values, metrics and small charts.

A demo module defines a `Config` dataclass (with at least `seed: int = 0` and `quick: bool =
False`), each other field declared with `setting(default, meaning, range)`, optionally a
`problems()` method for constraints between fields, a module-level `QUICK` dict (the values
`--quick` uses, applied before `--set`), and `run(config, progress=None) -> Result`. `run` never
prints: it returns numbers, and calls `progress(fraction)` (0..1) now and then if it takes longer
than a second. The CLI renders.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field, fields

Progress = Callable[[float], None]

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
    "==": operator.eq,
}


def setting(default, meaning: str, *, low: float | None = None, high: float | None = None,
            above: float | None = None, below: float | None = None):
    """A Config field with its one-line meaning and accepted range, in one declaration:
    `low <= x <= high`, `above < x < below` (each bound optional). For a tuple the range applies
    to every element. The type is the field's annotation."""
    return field(default=default, metadata={"meaning": meaning, "low": low, "high": high,
                                            "above": above, "below": below})


def accepted_range(f) -> str:
    """The range of a setting as text, e.g. "0 < x <= 1" or "x >= 1" ("any" if unbounded)."""
    m = f.metadata
    lower = (("<=", m["low"]) if m.get("low") is not None
             else ("<", m["above"]) if m.get("above") is not None else None)
    upper = (("<=", m["high"]) if m.get("high") is not None
             else ("<", m["below"]) if m.get("below") is not None else None)
    each = "each " if type_name(f) == "tuple" else ""
    if lower and upper:
        return f"{each}{_num(lower[1])} {lower[0]} x {upper[0]} {_num(upper[1])}"
    if lower:
        return f"{each}x {lower[0].replace('<', '>')} {_num(lower[1])}"
    if upper:
        return f"{each}x {upper[0]} {_num(upper[1])}"
    return "true or false" if type_name(f) == "bool" else "any"


def type_name(f) -> str:
    """The field's type as written: int, float, bool, str, or tuple (of int or float)."""
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    return "tuple" if kind.startswith("tuple") else kind


def _num(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def settings_problems(config) -> list[str]:
    """Every way `config` breaks its declared types and ranges, then its own `problems()`."""
    out = []
    for f in fields(config):
        if f.name == "quick":
            continue
        value, kind = getattr(config, f.name), type_name(f)
        items = value if kind == "tuple" and isinstance(value, tuple) else (value,)
        if kind == "tuple" and not (isinstance(value, tuple) and value):
            out.append(f"{f.name}: expected a non-empty list of numbers like 2,4,8; got {value!r}")
            continue
        for item in items:
            if isinstance(item, bool) or not isinstance(item, (int, float, str)):
                if kind != "bool":
                    out.append(f"{f.name}: {item!r} is not a number")
                continue
            if isinstance(item, str):
                continue
            if kind == "int" and not isinstance(item, int):
                out.append(f"{f.name}: {item!r} is not an integer")
                continue
            if not math.isfinite(item):
                out.append(f"{f.name}: {item!r} is not a finite number")
                continue
            m = f.metadata
            inside = ((m.get("low") is None or item >= m["low"])
                      and (m.get("high") is None or item <= m["high"])
                      and (m.get("above") is None or item > m["above"])
                      and (m.get("below") is None or item < m["below"]))
            if m and not inside:
                out.append(f"{f.name}: {item!r} is out of range; accepted: {accepted_range(f)}")
    if not out and hasattr(config, "problems"):
        out += config.problems()
    return out


@dataclass(frozen=True)
class Check:
    """A claim of the paper, measured: `value op threshold` must hold."""

    name: str
    value: float
    op: str
    threshold: float
    passed: bool


def check(name: str, value: float, op: str, threshold: float) -> Check:
    """Build a Check; NaN and infinite values always fail."""
    value, threshold = float(value), float(threshold)
    passed = math.isfinite(value) and _OPS[op](value, threshold)
    return Check(name, value, op, threshold, bool(passed))


@dataclass(frozen=True)
class Chart:
    """A small terminal chart. kind "line": `y` over `x`; "bars": `y` per label; "heatmap": `matrix`."""

    title: str
    kind: str
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    matrix: list[list[float]] = field(default_factory=list)


@dataclass
class Result:
    checks: list[Check]
    metrics: dict[str, object] = field(default_factory=dict)
    charts: list[Chart] = field(default_factory=list)
    # Filled in by the runner from the demo's module: what it proves, how, and where to read it.
    claim: str = ""
    equations: tuple[str, ...] = ()
    source: str = ""

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)


def no_progress(fraction: float) -> None:
    """The default progress callback: ignore."""
