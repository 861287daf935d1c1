"""Timelines: one table per year, or an overview of every year."""

from __future__ import annotations

from evollm.render.styled import Styled, fit


def year_tables(entries, eras: dict[int, dict], width: int = 80) -> Styled:
    """A heading and aligned rows (date, name, kind, labs) for each year present in `entries`."""
    by_year: dict[int, list] = {}
    for entry in entries:
        by_year.setdefault(entry.year, []).append(entry)
    out = Styled()
    if not by_year:
        return out.add("No entries match.", "dim").end()
    name_w = min(30, max(len(e.name) for e in entries))
    kind_w = max(len(e.kind) for e in entries)
    labs_w = max(10, width - 10 - 2 - name_w - 2 - kind_w - 2)
    for n, (year, items) in enumerate(by_year.items()):
        if n:
            out.end()
        out.add(f"{year}", "bold")
        title = eras.get(year, {}).get("title")
        if title:
            out.add(f"  {title}", "bold cyan")
        out.add(f"  ({len(items)} entr{'y' if len(items) == 1 else 'ies'})", "dim").end()
        for entry in items:
            out.add(f"{entry.date:<10}  ", "dim")
            out.add(f"{fit(entry.name, name_w):<{name_w}}  ", "bold")
            out.add(f"{entry.kind:<{kind_w}}  ")
            out.add(fit(", ".join(entry.labs), labs_w)).end()
    return out


def search_hits(entries, width: int = 80) -> Styled:
    """Date, name, id (what `show` takes) and title of each match, best first."""
    out = Styled()
    name_w = min(28, max(len(e.name) for e in entries))
    id_w = max(len(e.id) for e in entries)
    title_w = max(10, width - 10 - 2 - name_w - 2 - id_w - 2)
    for entry in entries:
        out.add(f"{entry.date:<10}  ", "dim").add(f"{fit(entry.name, name_w):<{name_w}}  ", "bold")
        out.add(f"{entry.id:<{id_w}}  ", "cyan")
        out.add(fit(entry.title, title_w)).end()
    return out


def overview(rows: list[dict]):
    """One row per year: the era's heading, how many entries, the headline entries."""
    from rich.table import Table

    from evollm.render import literal

    table = Table(title="Evolution of LLMs, year by year", box=None, header_style="bold", title_style="bold")
    table.add_column("Year", no_wrap=True, style="bold")
    table.add_column("Era", style="cyan", overflow="fold")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("Headlines", overflow="fold")
    for row in rows:
        table.add_row(str(row["year"]), literal(row["era"]), str(row["count"]), literal(", ".join(row["headlines"])))
    return table
