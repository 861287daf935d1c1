"""Counts of the knowledge base as rich tables, each with a bar, side by side where they fit."""

from __future__ import annotations

from rich.columns import Columns
from rich.console import Group
from rich.table import Table
from rich.text import Text

from evollm.render import literal

_TITLES = {"year": "Year", "kind": "Kind", "architecture": "Architecture", "family": "Family", "lab": "Lab",
           "topic": "Topic"}
_BAR_WIDTH = 16


def count_table(title: str, rows: list[tuple[str, int]], total_rows: int, bar_scale: int) -> Table:
    """One tally: value, count, a bar; a last line says how many values were left out."""
    table = Table(title=title, title_style="bold", title_justify="left", box=None, show_header=False,
                  padding=(0, 1))
    table.add_column(overflow="fold", max_width=28)
    table.add_column(justify="right", no_wrap=True)
    table.add_column(no_wrap=True)
    for value, count in rows:
        bar = "█" * max(1, round(count / bar_scale * _BAR_WIDTH)) if bar_scale else ""
        table.add_row(literal(value), str(count), Text(bar, style="cyan"))
    if total_rows > len(rows):
        table.add_row(Text(f"… {total_rows - len(rows)} more", style="dim"), "", "")
    return table


def stats_view(total: int, counts: dict[str, list[tuple[str, int]]], *, top: int = 12, width: int = 100) -> Group:
    """The heading and a table per tally; labs and topics cut to the `top` most frequent."""
    heading = Text(f"{total} entr{'y' if total == 1 else 'ies'}", style="bold")
    if not total:
        return Group(heading)
    tables = []
    for name, rows in counts.items():
        if not rows:
            continue
        shown = rows[:top] if name in ("lab", "topic") else rows
        tables.append(count_table(_TITLES[name], shown, len(rows), max(count for _, count in rows)))
    return Group(heading, Text(""), Columns(tables, padding=(1, 4), width=None if width >= 80 else width))
