"""Every registered demo, through the same runner users call: parametrized over the registry,
so a new demo is tested without a new test."""

import dataclasses
import importlib
import json
import re
from pathlib import Path

import pytest

from evollm.demos.base import Result, check
from evollm.demos.registry import DEMOS

NAMES = sorted(DEMOS)


@pytest.mark.parametrize("name", NAMES)
def test_demo_module_follows_the_contract(name):
    module = importlib.import_module(DEMOS[name].module)
    doc = module.__doc__ or ""
    assert "But:" in doc, "the docstring says what the demo leaves out"
    assert re.search(r"\b\d{4}\.\d{4,5}\b", doc), "the docstring names the paper's arXiv id"
    assert dataclasses.is_dataclass(module.Config)
    fields = {f.name for f in dataclasses.fields(module.Config)}
    assert {"seed", "quick"} <= fields
    assert callable(module.run)
    assert isinstance(module.CLAIM, str) and module.CLAIM.strip()
    assert module.EQUATIONS and all(isinstance(e, str) and e for e in module.EQUATIONS)
    assert isinstance(getattr(module, "QUICK", {}), dict)
    source = Path(module.__file__).read_text(encoding="utf-8")
    assert 'if __name__ == "__main__":' in source and "main(__spec__.name)" in source, \
        "the module runs as python -m evollm.demos.NAME through the shared runner"


def test_the_report_begins_with_claim_equations_and_source(cli):
    result = cli("demo", "rope", "--quick")
    lines = result.stdout.splitlines()
    assert lines[1].startswith("Claim: Rotating query and key pairs")
    assert "Equations:" in lines and any("theta_i = base^(-2(i-1)/d)" in line for line in lines)
    assert any(line.startswith("Source: ") and line.endswith("rope.py") for line in lines)


@pytest.mark.parametrize("name", NAMES)
def test_quick_demo_passes_every_check_through_the_cli(cli, name):
    result = cli("demo", name, "--quick", "--json")
    data = json.loads(result.stdout)
    failed = [c for c in data["checks"] if not c["passed"]]
    assert result.exit_code == 0 and data["passed"], failed
    assert data["demo"] == name and data["entry"] == DEMOS[name].entry
    assert data["checks"] and all(set(c) >= {"name", "value", "threshold", "passed"} for c in data["checks"])
    assert isinstance(data["metrics"], dict) and isinstance(data["seconds"], float)
    # the report starts with what the demo proves, the equations, and where to read the code
    module = importlib.import_module(DEMOS[name].module)
    assert data["claim"] == module.CLAIM and data["equations"] == list(module.EQUATIONS)
    assert data["source"] == str(Path(module.__file__).resolve())


def test_demos_listing(cli):
    data = json.loads(cli("demos", "--json").stdout)
    assert [d["name"] for d in data] == list(DEMOS)
    assert all(set(d) >= {"name", "entry", "shows", "checks", "typical_seconds"} for d in data)
    assert "flash-attention" in cli("demos").stdout


def test_failing_check_exits_1_and_shows_fail(cli, monkeypatch):
    module = importlib.import_module(DEMOS["rope"].module)
    monkeypatch.setattr(module, "run", lambda config, progress=None: Result([check("impossible", 1.0, "<=", 0.0)]))
    result = cli("demo", "rope")
    assert result.exit_code == 1
    assert "FAIL" in result.stdout and "some checks FAILED" in result.stdout


def test_check_semantics():
    assert check("a", 1e-13, "<=", 1e-12).passed
    assert not check("a", float("nan"), "<=", 1.0).passed
    assert not check("a", float("inf"), ">=", 1.0).passed
    assert not Result([]).passed  # a demo with no checks proves nothing


def test_unknown_demo_and_bad_settings(cli):
    result = cli("demo", "nope")
    assert result.exit_code == 1 and "no demo 'nope'; registered demos:" in result.stderr
    result = cli("demo", "rope", "--set", "colour=blue")
    assert result.exit_code == 2 and "--set takes KEY=VALUE" in result.stderr
    result = cli("demo", "rope", "--set", "seed=3")
    assert result.exit_code == 2


def test_show_run_demo(cli):
    result = cli("show", "rope", "--run-demo", "--quick", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["demo"] == "rope"
