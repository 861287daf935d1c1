"""Paths, side-by-side differences, adopters and reading orders."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from evollm.render import literal, params_text
from evollm.render.styled import Styled


def path_steps(entries, chains: list[list[tuple[str, str | None, str]]], more: bool, width: int = 80) -> Styled:
    """Each chain is [(id, relation to previous, note)]; the first chain is the shortest."""
    out = Styled()
    for n, chain in enumerate(chains):
        if n:
            out.end()
        title = "Shortest path" if n == 0 else f"Path {n + 1}"
        out.add(f"{title} ({len(chain) - 1} step{'s' if len(chain) != 2 else ''})", "bold underline").end()
        for i, (entry_id, relation, note) in enumerate(chain):
            entry = entries[entry_id]
            out.add("   " if i == 0 else "└─ ", "dim")
            if relation:
                out.add(f"{relation} ", "magenta")
            out.add(entry.name, "bold").add(f" ({entry.id}, {entry.date[:7]})", "dim").end()
            if note:
                out.wrapped(note, width, indent=6, style="italic")
    if more:
        out.add("more paths exist than shown; raise --limit (at most 100)", "dim").end()
    return out


def diff_table(a, b, common, adds: list[str], drops: list[str], names) -> Table:
    table = Table(header_style="bold", show_lines=False)
    table.add_column("", style="bold", no_wrap=True)
    table.add_column(literal(a.name), overflow="fold")
    table.add_column(literal(b.name), overflow="fold")
    rows = [
        ("Date", a.date, b.date),
        ("Labs", ", ".join(a.labs), ", ".join(b.labs)),
        ("Kind", a.kind, b.kind),
        ("Architecture", a.architecture or "-", b.architecture or "-"),
        ("Family", a.family or "-", b.family or "-"),
        ("Parameters", params_text(a.params) or "-", params_text(b.params) or "-"),
        ("Pretraining", a.pretraining or "-", b.pretraining or "-"),
        ("Corpus", a.corpus or "-", b.corpus or "-"),
        ("License", a.license or "-", b.license or "-"),
        ("Uses", ", ".join(names(a.uses)) or "-", ", ".join(names(b.uses)) or "-"),
    ]
    for label, left, right in rows:
        style = None if left == right else "yellow"
        table.add_row(label, literal(left, style=style), literal(right, style=style))
    table.add_row("Adds", "", literal(", ".join(names(adds)) or "-", style="green"))
    table.add_row("Drops", "", literal(", ".join(names(drops)) or "-", style="red"))
    table.add_row("Common ancestor", literal(f"{common.name} ({common.id})" if common else "none", style="cyan"), "")
    return table


def adopters_table(technique, adopters) -> Table:
    table = Table(title=literal(f"Entries that use {technique.name}"), header_style="bold", title_style="bold",
                  box=None)
    table.add_column("Date", style="dim", no_wrap=True)
    table.add_column("Name", style="bold", overflow="fold")
    table.add_column("Labs", overflow="fold")
    table.add_column("", no_wrap=True)
    for i, entry in enumerate(adopters):
        table.add_row(literal(entry.date), literal(entry.name), literal(", ".join(entry.labs)),
                      Text("first adopter", style="green") if i == 0 else "")
    return table


def reading_list(items: list[tuple[object, str]], target) -> Group:
    # A grid, so an item's text wraps under itself and the numbers stay a clean column.
    steps = Table.grid(padding=(0, 1))
    steps.add_column(justify="right", no_wrap=True)
    steps.add_column()
    for n, (entry, why) in enumerate(items, 1):
        line = literal(entry.name, style="bold")
        line.append_text(literal(f" ({entry.id}, {entry.date[:7]})", style="dim"))
        if why:
            line.append_text(literal(f": {why}"))
        steps.add_row(f"{n:>3}.", line)
    return Group(literal(f"To understand {target.name}, read in this order:", style="bold"), steps)
