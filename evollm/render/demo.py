"""A demo's result: metrics, small terminal charts, and the table of checks."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

_BLOCKS = " ▁▂▃▄▅▆▇█"
_SHADES = " ░▒▓█"


def _fmt(value) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        shown = ", ".join(_fmt(v) for v in value[:8])
        return f"[{shown}{', …' if len(value) > 8 else ''}]"
    return str(value)


def checks_table(checks) -> Table:
    table = Table(title="Checks", header_style="bold", title_style="bold")
    table.add_column("Check", overflow="fold")
    table.add_column("Value", justify="right", no_wrap=True)
    table.add_column("Threshold", no_wrap=True)
    table.add_column("", no_wrap=True)
    for c in checks:
        table.add_row(Text(c.name), _fmt(c.value), f"{c.op} {_fmt(c.threshold)}",
                      Text("pass", style="green") if c.passed else Text("FAIL", style="bold red"))
    return table


def metrics_table(metrics: dict) -> Table:
    table = Table(title="Metrics", header_style="bold", title_style="bold", show_header=False)
    table.add_column("Metric", style="bold")
    table.add_column("Value", overflow="fold")
    for key, value in metrics.items():
        table.add_row(Text(key), Text(_fmt(value)))  # Text: a value like "[es]" is not markup
    return table


def _scale(values, levels: int) -> list[int]:
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    return [round((v - low) / span * (levels - 1)) for v in values]


def chart(c, width: int = 60) -> Group:
    """A one-line sparkline, a bar chart, or a shaded heatmap."""
    title = Text(c.title, style="bold")
    if c.kind == "line" and c.y:
        ys = list(c.y)
        if len(ys) > width:  # average into `width` buckets
            step = len(ys) / width
            ys = [sum(ys[int(i * step):int((i + 1) * step)]) / max(1, len(ys[int(i * step):int((i + 1) * step)]))
                  for i in range(width)]
        line = "".join(_BLOCKS[1 + i] for i in _scale(ys, len(_BLOCKS) - 1))
        span = f"  {_fmt(min(c.y))} … {_fmt(max(c.y))}"
        xs = f"  (x: {_fmt(c.x[0])} → {_fmt(c.x[-1])})" if c.x else ""
        return Group(title, Text(line + span + xs, style="cyan"))
    if c.kind == "bars" and c.y:
        top = max(abs(v) for v in c.y) or 1.0
        table = Table.grid(padding=(0, 1))
        for label, value in zip(c.labels or [str(i) for i in range(len(c.y))], c.y):
            table.add_row(Text(label), Text("█" * max(1, round(abs(value) / top * 40)), style="cyan"), _fmt(value))
        return Group(title, table)
    if c.kind == "heatmap" and c.matrix:
        flat = [v for row in c.matrix for v in row]
        low, high = min(flat), max(flat)
        span = (high - low) or 1.0
        lines = ["".join(_SHADES[round((v - low) / span * (len(_SHADES) - 1))] * 2 for v in row) for row in c.matrix]
        return Group(title, Text("\n".join(lines), style="cyan"), Text(f"light {_fmt(low)} … dark {_fmt(high)}", style="dim"))
    return Group(title, Text("(no data)", style="dim"))


def _shown_path(path: str) -> str:
    """The demo's file relative to the working folder when it lies below it (a checkout), else whole."""
    import os

    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def demo_report(spec, result, seconds: float) -> Group:
    parts = [Text(f"{spec.name}: {spec.shows}", style="bold")]
    if result.claim:
        parts.append(Text.assemble(("Claim: ", "bold"), result.claim))
    if result.equations:
        parts.append(Text("Equations:", style="bold"))
        parts += [Text(f"  {line}") for line in result.equations]
    if result.source:
        parts.append(Text.assemble(("Source: ", "bold"), (_shown_path(result.source), "cyan")))
    if result.metrics:
        parts.append(metrics_table(result.metrics))
    for c in result.charts:
        parts.append(chart(c))
    parts.append(checks_table(result.checks))
    verdict = "every check passed" if result.passed else "some checks FAILED"
    parts.append(Text(f"{verdict} in {seconds:.1f} s", style="green" if result.passed else "bold red"))
    return Group(*parts)


def demos_table(specs) -> Table:
    table = Table(title="Demos", header_style="bold", title_style="bold")
    table.add_column("Name", style="bold", no_wrap=True)
    table.add_column("Entry", no_wrap=True)
    table.add_column("Shows", overflow="fold")
    table.add_column("Checks", overflow="fold")
    table.add_column("Time (quick)", justify="right")
    for spec in specs:
        table.add_row(spec.name, spec.entry, spec.shows, spec.checks,
                      f"{spec.typical_seconds:g} s ({spec.quick_seconds:g} s)")
    table.caption = "Time: CPU seconds measured on a 2-core machine, BLAS on one thread"
    return table


def settings_table(name: str, rows: list[dict]) -> Table:
    """A demo's settings: what `--set KEY=VALUE` accepts."""
    table = Table(title=f"Settings of {name} (--set KEY=VALUE; --quick uses the Quick column)",
                  header_style="bold", title_style="bold")
    table.add_column("Setting", style="bold", no_wrap=True)
    table.add_column("Type", no_wrap=True)
    table.add_column("Default", overflow="fold")
    table.add_column("Quick", overflow="fold")
    table.add_column("Accepted", overflow="fold")
    table.add_column("Meaning", overflow="fold")
    for row in rows:
        quick = "" if row["quick"] == row["default"] else _fmt(row["quick"])
        table.add_row(Text(row["name"]), row["type"], Text(_fmt(row["default"])), Text(quick),
                      Text(row["range"]), Text(row["meaning"]))
    return table
