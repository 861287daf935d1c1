"""Timelines: one table per year, or an overview of every year."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def year_tables(entries, eras: dict[int, dict], width: int = 80) -> Text:
    """A heading and aligned rows (date, name, kind, labs) for each year present in `entries`.

    Laid out by hand rather than with rich's Table: a year of a large knowledge base has a
    thousand rows, which a Table measures and wraps cell by cell (seconds instead of ms).
    """
    by_year: dict[int, list] = {}
    for entry in entries:
        by_year.setdefault(entry.year, []).append(entry)
    out = Text(no_wrap=True, overflow="ellipsis")
    if not by_year:
        out.append("No entries match.", style="dim")
        return out
    name_w = min(30, max(len(e.name) for e in entries))
    kind_w = max(len(e.kind) for e in entries)
    labs_w = max(10, width - 10 - 2 - name_w - 2 - kind_w - 2)
    for n, (year, items) in enumerate(by_year.items()):
        if n:
            out.append("\n")
        out.append(f"{year}", style="bold")
        title = eras.get(year, {}).get("title")
        if title:
            out.append(f"  {title}", style="bold cyan")
        out.append(f"  ({len(items)} entr{'y' if len(items) == 1 else 'ies'})\n", style="dim")
        for entry in items:
            out.append(f"{entry.date:<10}  ", style="dim")
            out.append(f"{_fit(entry.name, name_w):<{name_w}}  ", style="bold")
            out.append(f"{entry.kind:<{kind_w}}  ")
            out.append(_fit(", ".join(entry.labs), labs_w) + "\n")
    out.rstrip()
    return out


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
