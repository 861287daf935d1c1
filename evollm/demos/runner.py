"""Run a registered demo: build its Config, pin BLAS to one thread, time it, return the Result."""

from __future__ import annotations

import dataclasses
import importlib
import os
import time

from evollm.demos.base import Progress, Result
from evollm.demos.registry import DEMOS, DemoSpec
from evollm.errors import NotFound, UsageError

_BLAS_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def pin_blas() -> None:
    """One BLAS thread: the demos' matrices are small, and threads only oversubscribe 2 cores
    (a numpy PPO run took 5x longer unpinned). Must run before numpy is first imported."""
    for name in _BLAS_THREADS:
        os.environ.setdefault(name, "1")


def spec_of(name: str) -> DemoSpec:
    if name not in DEMOS:
        raise NotFound(f"no demo {name!r}; registered demos: {', '.join(sorted(DEMOS))}")
    return DEMOS[name]


def _convert(field: dataclasses.Field, text: str):
    kind = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", str(field.type))
    try:
        if kind == "bool":
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
        if kind == "int":
            return int(float(text)) if float(text).is_integer() else int(text)
        if kind == "float":
            return float(text)
        if kind == "str":
            return text
    except ValueError:
        raise UsageError(f"--set {field.name}: {text!r} is not a {kind}") from None
    raise UsageError(f"--set {field.name}: the field's type {kind} cannot be set from the command line")


def make_config(module, *, seed: int, quick: bool, overrides: list[str]):
    """The demo's Config with seed, quick and `key=value` overrides applied."""
    fields = {f.name: f for f in dataclasses.fields(module.Config)}
    values: dict[str, object] = {"seed": seed, "quick": quick}
    if quick:  # the module's short-run preset first, so that --set always wins
        values.update(getattr(module, "QUICK", {}))
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in fields or key in ("seed", "quick"):
            settable = ", ".join(n for n in fields if n not in ("seed", "quick"))
            raise UsageError(f"--set takes KEY=VALUE with KEY one of: {settable}; got {item!r}")
        values[key] = _convert(fields[key], text.strip())
    return module.Config(**values)


def run_demo(name: str, *, seed: int = 0, quick: bool = False, overrides: list[str] = (),
             progress: Progress | None = None) -> tuple[DemoSpec, Result, float]:
    """(spec, result, wall seconds) of one run."""
    spec = spec_of(name)
    pin_blas()
    module = importlib.import_module(spec.module)
    config = make_config(module, seed=seed, quick=quick, overrides=list(overrides))
    start = time.perf_counter()
    result = module.run(config, progress)
    return spec, result, time.perf_counter() - start


def result_json(spec: DemoSpec, result: Result, seconds: float) -> dict:
    return {
        "demo": spec.name,
        "entry": spec.entry,
        "passed": result.passed,
        "seconds": round(seconds, 3),
        "checks": [
            {"name": c.name, "value": _plain(c.value), "op": c.op, "threshold": _plain(c.threshold), "passed": c.passed}
            for c in result.checks
        ],
        "metrics": _plain(result.metrics),
    }


def _plain(value):
    """numpy scalars and arrays, tuples and non-finite floats -> JSON-safe Python values."""
    import math

    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
