"""Timelines: one table per year, or an overview of every year."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text


def year_tables(entries, eras: dict[int, dict]) -> Group:
    """A heading and a table of entries for each year present in `entries` (already date-sorted)."""
    by_year: dict[int, list] = {}
    for entry in entries:
        by_year.setdefault(entry.year, []).append(entry)
    parts = []
    for year, items in by_year.items():
        era = eras.get(year, {})
        heading = Text(f"{year}", style="bold")
        if era.get("title"):
            heading.append(f"  {era['title']}", style="bold cyan")
        heading.append(f"  ({len(items)} entr{'y' if len(items) == 1 else 'ies'})", style="dim")
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False, expand=False)
        table.add_column("Date", no_wrap=True, style="dim")
        table.add_column("Name", style="bold", overflow="fold")
        table.add_column("Kind", no_wrap=True)
        table.add_column("Labs", overflow="fold")
        table.add_column("Id", style="dim", overflow="fold")
        for entry in items:
            table.add_row(entry.date, entry.name, entry.kind, ", ".join(entry.labs), entry.id)
        parts += [heading, table, Text("")]
    if not parts:
        return Group(Text("No entries match.", style="dim"))
    return Group(*parts[:-1])


def overview(rows: list[dict]) -> Table:
    """One row per year: the era's heading, how many entries, the headline entries."""
    table = Table(title="Evolution of LLMs, year by year", box=None, header_style="bold", title_style="bold")
    table.add_column("Year", no_wrap=True, style="bold")
    table.add_column("Era", style="cyan", overflow="fold")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("Headlines", overflow="fold")
    for row in rows:
        table.add_row(str(row["year"]), row["era"], str(row["count"]), ", ".join(row["headlines"]))
    return table
