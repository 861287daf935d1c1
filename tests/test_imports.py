"""Read commands stay light: numpy, httpx, arxiv and textual are never imported by them (proved
in a fresh interpreter, since this test process may already have imported them)."""

import json
import subprocess
import sys

import pytest

from conftest import MINI

HEAVY = ("numpy", "httpx", "arxiv", "gymnasium", "plotext", "textual")

PROBE = """
import json, sys
from typer.testing import CliRunner
from evollm.cli import app
result = CliRunner().invoke(app, sys.argv[1:])
heavy = sorted({m.split('.')[0] for m in sys.modules} & set(%r))
print(json.dumps({"exit": result.exit_code, "heavy": heavy, "kb": "evollm.kb" in sys.modules}))
""" % (HEAVY,)


def probe(*args):
    out = subprocess.run([sys.executable, "-c", PROBE, *map(str, args)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [
    ["timeline", "2019"], ["show", "enc"], ["tree", "--family", "enc"], ["search", "encoder"], ["validate"],
])
def test_read_commands_import_nothing_heavy(args):
    report = probe(*args, "--data", MINI)
    assert report["exit"] == 0
    assert report["heavy"] == []


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["browse", "--help"]])
def test_help_and_version_read_no_knowledge_base(args):
    report = probe(*args)
    assert report == {"exit": 0, "heavy": [], "kb": False}


def test_python_dash_m(tmp_path):
    out = subprocess.run([sys.executable, "-m", "evollm", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("evollm ")


def test_closed_pipe_ends_quietly():
    """`evollm timeline | head -1`: no traceback, no 'Exception ignored' noise."""
    cmd = f"{sys.executable} -m evollm timeline 2017..2020 --data {MINI} | head -1"
    out = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True)
    assert out.returncode == 0
    assert out.stderr == ""
    assert len(out.stdout.splitlines()) == 1


def test_importing_the_cli_does_not_import_textual():
    code = "import sys, evollm.cli; print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("args", [["browse", "enk"], ["browse", "enc"]])
def test_browse_refuses_before_importing_textual(args):
    """An unknown id, or no terminal (CliRunner has none): exit 2 before Textual is loaded."""
    report = probe(*args, "--data", MINI)
    assert report["exit"] == 2
    assert report["heavy"] == []
