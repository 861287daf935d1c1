"""What every demo returns: named checks with measured values, metrics and small charts.

A demo module defines a `Config` dataclass (with at least `seed: int = 0` and `quick: bool =
False`) and `run(config, progress=None) -> Result`. `run` never prints: it returns numbers, and
calls `progress(fraction)` (0..1) now and then if it takes longer than a second. The CLI renders.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field

Progress = Callable[[float], None]

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
    "==": operator.eq,
}


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

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)


def no_progress(fraction: float) -> None:
    """The default progress callback: ignore."""
