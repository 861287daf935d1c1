"""Time evollm's commands as whole processes against the Typer floor, alternating A B A B.

    python benchmarks/run.py [--rounds 15] [--sizes 1000,10000] [--markdown]

For the shipped knowledge base and generated ones of each size: the cold first run (empty cache),
then `rounds` alternating runs of each command and of the floor; prints medians and ratios.
Run by hand (timings in tests are flaky on shared machines); record results in RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from generate import generate  # noqa: E402

COMMANDS = [["timeline", "2019"], ["show", "ppo"], ["tree", "--family", "bert"], ["search", "attention"], ["--help"]]
EVOLLM = [str(Path(sys.executable).parent / "evollm")]
FLOOR = [sys.executable, str(HERE / "floor.py")]


def wall(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def bench(label: str, data: Path | None, rounds: int, env: dict) -> list[dict]:
    rows = []
    for args in COMMANDS:
        extra = ["--data", str(data)] if data and args != ["--help"] else []
        cmd = EVOLLM + args + extra
        cache = Path(env["XDG_CACHE_HOME"])
        shutil.rmtree(cache, ignore_errors=True)
        cold = wall(cmd, env)
        ours, floor = [], []
        for _ in range(rounds):  # A B A B: both see the same machine load
            ours.append(wall(cmd, env))
            floor.append(wall(FLOOR, env))
        m_ours, m_floor = statistics.median(ours), statistics.median(floor)
        rows.append({"kb": label, "command": "evollm " + " ".join(args), "cold": cold, "median": m_ours,
                     "floor": m_floor, "ratio": m_ours / m_floor})
    if data is not None:
        validate = EVOLLM + ["--no-cache", "validate", "--data", str(data)]
        times = [wall(validate, env) for _ in range(3)]
        rows.append({"kb": label, "command": "evollm --no-cache validate", "cold": min(times),
                     "median": statistics.median(times), "floor": float("nan"), "ratio": float("nan")})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--sizes", default="1000,10000")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="evollm-bench-"))
    env = {**os.environ, "XDG_CACHE_HOME": str(work / "cache"), "EVOLLM_HOME": str(work / "home"),
           "COLUMNS": "100"}
    env.pop("EVOLLM_NO_CACHE", None)
    rows = bench("shipped", None, args.rounds, env)
    for size in [int(s) for s in args.sizes.split(",") if s]:
        folder = work / f"kb{size}"
        generate(size, folder)
        time.sleep(2.5)  # evollm caches only files older than 2 s (see cache.RACY_SECONDS)
        rows += bench(f"{size:,}", folder, args.rounds, env)
    print("| knowledge base | command | cold (s) | warm median (s) | floor median (s) | ratio |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        ratio = "" if r["ratio"] != r["ratio"] else f"{r['ratio']:.2f}x"
        floor = "" if r["floor"] != r["floor"] else f"{r['floor']:.3f}"
        print(f"| {r['kb']} | `{r['command']}` | {r['cold']:.2f} | {r['median']:.3f} | {floor} | {ratio} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
