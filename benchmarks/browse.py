"""Time `evollm browse` as a user sees it, in a pseudo-terminal.

    python benchmarks/browse.py [--rounds 10] [--moves 20] [--sizes 10000] [--cols 100] [--lines 30]

First paint: from starting the process (`evollm browse ID`, the installed console script) to the
moment its first full frame has reached the terminal: the frame holds the footer ("Quit") and
the focused entry's card (its name and id); then `q`, and the process's CPU time (user + system,
start to exit) is read. In a second run `j` is pressed `--moves` times; each time the clock runs
from writing the key to the frame that shows the next entry's card (its id in the card's
heading). The knowledge base is served warm from the cache (a first run writes it), as it is
for every command after the first.

Each round also starts two floors, alternating with browse so that all three see the same load
(this machine is shared): the Textual floor (`textual_floor.py`, a line of text and a footer,
timed to its first frame like browse) and the Typer floor (`floor.py`, a whole run).

A second table times the same move inside one process, headless (Textual's test driver, no
terminal): from the key's action to the end of the frame that shows the new card, as wall time
and as this process's CPU time (which the machine's other load inflates less). Run by hand;
record results in RESULTS.md.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import select
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from generate import generate  # noqa: E402

EVOLLM = str(Path(sys.executable).parent / "evollm")


class Terminal:
    """A process on a pseudo-terminal of a fixed size; what it writes is kept in `seen`."""

    def __init__(self, argv: list[str], env: dict, cols: int, lines: int) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, cols, 0, 0))
        self.started = time.perf_counter()
        self.process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                        start_new_session=True, close_fds=True)
        os.close(slave)
        self.seen = b""

    def wait_for(self, *markers: bytes, since: int = 0, timeout: float = 30.0) -> float:
        """Read until every marker has appeared after byte `since`; the time it happened."""
        deadline = time.perf_counter() + timeout
        while not all(m in self.seen[since:] for m in markers):
            left = deadline - time.perf_counter()
            if left <= 0 or self.process.poll() is not None:
                tail = self.seen[-600:].decode(errors="replace")
                raise RuntimeError(f"markers {markers} not seen; the terminal's last output: {tail!r}")
            ready, _, _ = select.select([self.master], [], [], min(left, 0.5))
            if ready:
                try:
                    self.seen += os.read(self.master, 65536)
                except OSError:
                    break
        return time.perf_counter()

    def press(self, key: bytes) -> tuple[float, int]:
        mark = len(self.seen)
        start = time.perf_counter()
        os.write(self.master, key)
        return start, mark

    def close(self) -> float:
        """Quit with q; the CPU seconds (user + system) the process used in all."""
        cpu = float("nan")
        try:
            os.write(self.master, b"q")
            deadline = time.perf_counter() + 10
            while time.perf_counter() < deadline:
                self.drain()
                pid, status, usage = os.wait4(self.process.pid, os.WNOHANG)
                if pid:
                    self.process.returncode = os.waitstatus_to_exitcode(status)
                    cpu = usage.ru_utime + usage.ru_stime
                    break
            else:
                raise subprocess.TimeoutExpired(self.process.args, 10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        self.drain()
        os.close(self.master)
        return cpu

    def drain(self) -> None:
        """Read (and keep) whatever the process has written, until it pauses for 50 ms."""
        while True:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                return
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.seen += data


def paint_and_quit(argv: list[str], markers: list[bytes], env: dict, cols: int, lines: int) -> tuple[float, float]:
    """(seconds to the first frame holding every marker, CPU seconds of the whole process)."""
    term = Terminal(argv, env, cols, lines)
    try:
        painted = term.wait_for(*markers) - term.started
    finally:
        cpu = term.close()
    return painted, cpu


def key_to_card(argv: list[str], focus, following: list, env: dict, cols: int, lines: int) -> list[float]:
    """Seconds from pressing j to the frame with the next entry's card, for each of `following`
    whose card heading ("Name  id") fits the card's width, so that its id reaches the screen;
    the others are stepped over untimed."""
    term = Terminal(argv, env, cols, lines)
    moves = []
    fits = cols // 2 - 6  # the card pane, less its margin and scrollbar
    try:
        term.wait_for(b"Quit", b"  " + focus.id.encode())
        time.sleep(0.3)  # let the app settle (it is idle once painted)
        for entry in following:
            start, mark = term.press(b"j")
            if len(entry.name) + 2 + len(entry.id) <= fits:
                moves.append(term.wait_for(b"  " + entry.id.encode(), since=mark) - start)
                time.sleep(0.05)
            else:
                time.sleep(0.3)
    finally:
        term.close()
    return moves


def whole_run(argv: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def bench(label: str, data: Path | None, focus_id: str, rounds: int, moves: int, env: dict, cols: int,
          lines: int) -> dict:
    from evollm.kb import load_knowledge_base

    kb = load_knowledge_base(data)
    focus = kb.entries[focus_id]
    ids = list(kb.entries)
    following = [kb.entries[i] for i in ids[ids.index(focus_id) + 1:][:moves]]
    browse = [EVOLLM, "browse", focus.id] + (["--data", str(data)] if data else [])
    markers = [b"Quit", focus.name.encode(), b"  " + focus.id.encode()]
    textual_floor = [sys.executable, str(HERE / "textual_floor.py")]
    typer_floor = [sys.executable, str(HERE / "floor.py")]
    paint_and_quit(browse, markers, env, cols, lines)  # writes the cache if needed, warms the disk
    paint_and_quit(textual_floor, [b"hello from the floor", b"Quit"], env, cols, lines)
    paints, cpus, floors, floor_cpus, typer, keys = [], [], [], [], [], []
    for _ in range(rounds):  # A B C A B C: all three see the same load
        paint, cpu = paint_and_quit(browse, markers, env, cols, lines)
        paints.append(paint)
        cpus.append(cpu)
        paint, cpu = paint_and_quit(textual_floor, [b"hello from the floor", b"Quit"], env, cols, lines)
        floors.append(paint)
        floor_cpus.append(cpu)
        typer.append(whole_run(typer_floor, env))
    for _ in range(max(1, rounds // 3)):
        keys += key_to_card(browse, focus, following, env, cols, lines)
    median = statistics.median
    return {"kb": label, "size": f"{cols}x{lines}", "paint": median(paints), "paint_min": min(paints),
            "paint_max": max(paints), "cpu": median(cpus), "floor": median(floors), "floor_cpu": median(floor_cpus),
            "typer": median(typer), "move": median(keys), "move_p90": _p90(keys), "move_max": max(keys),
            "moves": len(keys), "rounds": rounds}


def in_process(data: Path | None, focus_id: str, moves: int, cols: int, lines: int) -> dict:
    """Per move of the cursor, headless: wall and CPU seconds from the action to the painted frame."""
    import asyncio

    from evollm.browse.app import BrowseApp
    from evollm.kb import load_knowledge_base

    kb = load_knowledge_base(data)
    walls, cpus = [], []

    async def run() -> None:
        app = BrowseApp(kb, focus=focus_id)
        async with app.run_test(size=(cols, lines)) as pilot:
            await pilot.pause(0.3)
            for _ in range(moves):
                painted = asyncio.Event()
                wall, cpu = time.perf_counter(), time.process_time()
                app.timeline.action_move(1)
                target = app.timeline.entry_id
                while app.current != target:
                    await asyncio.sleep(0)  # the message reaches the app, which shows the card
                app.call_after_refresh(painted.set)
                await painted.wait()
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
                await asyncio.sleep(0.02)

    asyncio.run(run())
    return {"wall": statistics.median(walls), "wall_p90": _p90(walls), "cpu": statistics.median(cpus),
            "cpu_p90": _p90(cpus), "moves": moves}


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--moves", type=int, default=20)
    parser.add_argument("--sizes", default="10000")
    parser.add_argument("--cols", type=int, default=100)
    parser.add_argument("--lines", type=int, default=30)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="evollm-browse-bench-"))
    env = {**os.environ, "XDG_CACHE_HOME": str(work / "cache"), "EVOLLM_HOME": str(work / "home"),
           "TERM": "xterm-256color"}
    for name in ("EVOLLM_NO_CACHE", "EVOLLM_DATA", "COLUMNS", "LINES", "NO_COLOR", "TEXTUAL"):
        env.pop(name, None)
    os.environ.update({k: env[k] for k in ("XDG_CACHE_HOME", "EVOLLM_HOME")})
    rows = [bench("shipped", None, "gpt-4", args.rounds, args.moves, env, args.cols, args.lines)]
    for size in [int(s) for s in args.sizes.split(",") if s]:
        folder = work / f"kb{size}"
        generate(size, folder)
        time.sleep(2.5)  # evollm caches only files older than 2 s (see cache.RACY_SECONDS)
        rows.append(bench(f"{size:,}", folder, "paper-05000" if size > 5000 else "bert", args.rounds, args.moves,
                          env, args.cols, args.lines))
    print("| knowledge base | terminal | first paint median (s) | min-max (s) | CPU, start to quit (s) "
          "| Textual floor: paint (s) / CPU (s) | Typer floor (s) | key to next card median (ms) | p90 (ms) "
          "| max (ms) | samples |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['kb']} | {r['size']} | {r['paint']:.3f} | {r['paint_min']:.2f}-{r['paint_max']:.2f} | "
              f"{r['cpu']:.3f} | {r['floor']:.3f} / {r['floor_cpu']:.3f} | {r['typer']:.3f} | "
              f"{r['move'] * 1000:.1f} | {r['move_p90'] * 1000:.1f} | {r['move_max'] * 1000:.1f} | "
              f"{r['rounds']} starts each, {r['moves']} moves |")
    print()
    print("| knowledge base | headless move to painted card: wall median (ms) | p90 (ms) | CPU median (ms) "
          "| p90 (ms) | moves |")
    print("|---|---:|---:|---:|---:|---:|")
    inproc = [("shipped", None, "gpt-4")] + [(f"{int(n):,}", work / f"kb{n}", "paper-05000" if int(n) > 5000 else "bert")
                                            for n in args.sizes.split(",") if n]
    for label, data, focus in inproc:
        r = in_process(data, focus, 100, args.cols, args.lines)
        print(f"| {label} | {r['wall'] * 1000:.1f} | {r['wall_p90'] * 1000:.1f} | {r['cpu'] * 1000:.1f} | "
              f"{r['cpu_p90'] * 1000:.1f} | {r['moves']} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
