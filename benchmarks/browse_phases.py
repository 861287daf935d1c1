"""Where `evollm browse` spends its start-up, phase by phase, in CPU time (less disturbed by the
machine's other load than wall time).

    python benchmarks/browse_phases.py [--runs 5] [--data DIR] [ID]

Runs the real entry point (`evollm.cli.main`, `browse ID`) in a pseudo-terminal, with marks
taken by wrapping `evollm.cli._load`, `evollm.browse.run` and the app's mount: importing the CLI;
Typer parsing the arguments (which imports pydantic, see RESULTS.md); reading the knowledge base
and resolving the id; importing Textual and the app; Textual starting up to the app's mount; the
first frame. Prints the median of each phase over the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# {entry} is filled in with the id before the probe runs.
PROBE = r"""
import json, sys, time
marks = [("python start-up", time.process_time())]
out = sys.argv[1]
def mark(name): marks.append((name, time.process_time()))
import evollm.cli
mark("import evollm.cli")
real_load = evollm.cli._load
def load(data):
    mark("Typer parses the arguments")
    kb = real_load(data)
    kb.resolve("{entry}")
    return kb
evollm.cli._load = load
import evollm.browse as browse
real_run = browse.run
def run(kb, focus=None):
    mark("read the knowledge base")
    import evollm.browse.app as app_module
    mark("import Textual and the app")
    mount = app_module.BrowseApp.on_mount
    def on_mount(self):
        mark("Textual start-up to mount")
        mount(self)
        def painted():
            mark("mount to first frame")
            with open(out, "w") as f:
                json.dump(marks, f)
        self.call_after_refresh(painted)
    app_module.BrowseApp.on_mount = on_mount
    real_run(kb, focus)
browse.run = run
sys.argv = ["evollm", "browse", *sys.argv[2:]]
evollm.cli.main()
"""


def main() -> None:
    from browse import Terminal

    parser = argparse.ArgumentParser()
    parser.add_argument("entry", nargs="?", default="gpt-4")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--data")
    args = parser.parse_args()
    env = {**os.environ, "TERM": "xterm-256color"}
    for name in ("COLUMNS", "LINES", "NO_COLOR"):
        env.pop(name, None)
    out = Path(tempfile.mkdtemp()) / "marks.json"
    extra = ["--data", args.data] if args.data else []
    phases: dict[str, list[float]] = {}
    for _ in range(args.runs + 1):  # the first run warms the cache and the disk
        out.unlink(missing_ok=True)
        probe = PROBE.replace("{entry}", args.entry)
        term = Terminal([sys.executable, "-c", probe, str(out), args.entry, *extra], env, 100, 30)
        deadline = time.perf_counter() + 30
        while not out.exists() and time.perf_counter() < deadline:
            term.drain()  # read what the app writes, or it blocks on a full terminal
        time.sleep(0.1)
        term.close()
        if not out.exists():
            raise SystemExit(f"no first frame; the terminal showed: {term.seen[-500:]!r}")
        marks = json.loads(out.read_text())
        if _ == 0:
            continue
        previous = 0.0
        for name, at in marks:
            phases.setdefault(name, []).append(at - previous)
            previous = at
    print("| phase | CPU median (ms) |")
    print("|---|---:|")
    total = 0.0
    for name, values in phases.items():
        total += statistics.median(values)
        print(f"| {name} | {statistics.median(values) * 1000:.0f} |")
    print(f"| total (sum of medians) | {total * 1000:.0f} |")


if __name__ == "__main__":
    main()
