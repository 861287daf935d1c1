"""Run a registered demo: build its Config, pin BLAS to one thread, time it, return the Result."""

from __future__ import annotations

import dataclasses
import importlib
import os
import time

from evollm.demos.base import Progress, Result, accepted_range, settings_problems, type_name
from evollm.demos.registry import DEMOS, DemoSpec
from evollm.errors import NotFound, UsageError

_BLAS_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def pin_blas() -> None:
    """One BLAS thread: the demos' matrices are small, and threads only oversubscribe 2 cores
    (a numpy PPO run took 5x longer unpinned). Must run before numpy is first imported."""
    for name in _BLAS_THREADS:
        os.environ.setdefault(name, "1")


def spec_of(name: str) -> DemoSpec:
    """The demo `name` names, in any case; NotFound with the closest names otherwise (`pp` -> ppo)."""
    key = name.strip().casefold()
    if key in DEMOS:
        return DEMOS[key]
    import difflib

    close = difflib.get_close_matches(key, list(DEMOS), n=3, cutoff=0.5)
    close += [d for d in sorted(DEMOS) if d.startswith(key) and d not in close] if key else []
    hint = f"; did you mean {' or '.join(repr(c) for c in close[:3])}?" if close else ""
    raise NotFound(f"no demo {name!r}; registered demos: {', '.join(sorted(DEMOS))}{hint}")


SEED_RANGE = (0, 2**32 - 1)


def _convert(field: dataclasses.Field, text: str):
    kind = type_name(field)
    try:
        if kind == "bool":
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
        if kind == "int":
            return _int(text)
        if kind == "float":
            return float(text)
        if kind == "str":
            return text
        if kind == "tuple":  # "2,4,8" or "(2, 4, 8)"; elements are ints unless the default has floats
            parts = [p.strip() for p in text.strip("()[] ").split(",") if p.strip()]
            floats = any(isinstance(v, float) for v in (field.default or ()))
            values = tuple(float(p) if floats else _int(p) for p in parts)
            if not values:
                raise ValueError(text)
            return values
    except ValueError:
        example = " (a comma-separated list, e.g. 2,4,8)" if kind == "tuple" else ""
        raise UsageError(f"--set {field.name}: {text!r} is not a {kind}{example}; "
                         f"accepted: {accepted_range(field)}") from None
    raise UsageError(f"--set {field.name}: the field's type {kind} cannot be set from the command line")


def _int(text: str) -> int:
    """An integer from "12", "1e5" or "500_000"; "1.5", "nan" and "inf" are errors."""
    text = text.replace("_", "")
    try:
        return int(text)
    except ValueError:
        number = float(text)  # raises ValueError for words
        if not number.is_integer():
            raise ValueError(text) from None
        return int(number)


def settable_fields(module) -> list[dataclasses.Field]:
    """The Config fields `--set` may change (all but seed and quick)."""
    return [f for f in dataclasses.fields(module.Config) if f.name not in ("seed", "quick")]


def make_config(module, *, seed: int, quick: bool, overrides: list[str]):
    """The demo's Config with seed, the QUICK preset (if quick), then `key=value` overrides
    applied, in that order; every value checked against its declared type and range."""
    if not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
        raise UsageError(f"--seed: {seed} is out of range; accepted: an integer from "
                         f"{SEED_RANGE[0]} to {SEED_RANGE[1]}")
    fields = {f.name: f for f in dataclasses.fields(module.Config)}
    values: dict[str, object] = {"seed": seed, "quick": quick}
    if quick:  # the module's short-run preset first, so that --set always wins
        values.update(getattr(module, "QUICK", {}))
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in fields or key in ("seed", "quick"):
            settable = ", ".join(f.name for f in settable_fields(module))
            raise UsageError(f"--set takes KEY=VALUE with KEY one of: {settable}; got {item!r}")
        values[key] = _convert(fields[key], text.strip())
    config = module.Config(**values)
    problems = settings_problems(config)
    if problems:
        raise UsageError("invalid settings:\n  " + "\n  ".join(problems)
                         + "\n(evollm demo NAME --settings lists every setting with its range)")
    return config


def run_demo(name: str, *, seed: int = 0, quick: bool = False, overrides: list[str] = (),
             progress: Progress | None = None) -> tuple[DemoSpec, Result, float]:
    """(spec, result, wall seconds) of one run."""
    spec = spec_of(name)
    pin_blas()
    module = importlib.import_module(spec.module)
    config = make_config(module, seed=seed, quick=quick, overrides=list(overrides))
    start = time.perf_counter()
    try:
        result = module.run(config, progress)
    except Exception as error:  # noqa: BLE001 - reported as a usage error below, or re-raised
        if not overrides and seed == 0:
            raise  # the defaults failing is a bug in the demo: show it in full
        # A combination of settings the declared ranges let through but the demo cannot run.
        changed = " ".join([f"--seed {seed}"] * (seed != 0) + [f"--set {o}" for o in overrides])
        raise UsageError(f"demo {name} cannot run with {changed}: {type(error).__name__}: "
                         f"{error}") from None
    seconds = time.perf_counter() - start
    result.claim = getattr(module, "CLAIM", "")
    result.equations = tuple(getattr(module, "EQUATIONS", ()))
    result.source = os.path.abspath(module.__file__)
    return spec, result, seconds


def settings_rows(name: str) -> list[dict]:
    """Each setting of a demo: name, type, default, --quick value, accepted range, meaning."""
    module = importlib.import_module(spec_of(name).module)
    quick = getattr(module, "QUICK", {})
    rows = [{"name": "seed", "type": "int", "default": 0, "quick": 0,
             "range": f"{SEED_RANGE[0]} <= x <= {SEED_RANGE[1]}",
             "meaning": "random seed (--seed)"}]
    for f in settable_fields(module):
        rows.append({"name": f.name, "type": type_name(f), "default": _plain(f.default),
                     "quick": _plain(quick.get(f.name, f.default)), "range": accepted_range(f),
                     "meaning": f.metadata.get("meaning", "")})
    return rows


def result_json(spec: DemoSpec, result: Result, seconds: float) -> dict:
    return {
        "demo": spec.name,
        "entry": spec.entry,
        "passed": result.passed,
        "seconds": round(seconds, 3),
        "claim": result.claim,
        "equations": list(result.equations),
        "source": result.source,
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
