"""The card of one entry: what it solved, how, and where it sits in the lineage."""

from __future__ import annotations

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from evollm.render import params_text


def card(entry, *, parents, children, uses, adopted_by, influenced: int, overridden: bool, path: str) -> Panel:
    """`parents`/`children`: (Entry, relation, note) triples; `uses`/`adopted_by`: Entries."""
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column(overflow="fold")

    def fact(label: str, value: str | None) -> None:
        if value:
            facts.add_row(label, Text(value))

    fact("Title", entry.title)
    fact("Date", entry.date + (f"  ({entry.date_note})" if entry.date_note else ""))
    fact("Labs", ", ".join(entry.labs))
    if entry.authors:
        shown = entry.authors[:8]
        more = len(entry.authors) - len(shown)
        fact("Authors", ", ".join(shown) + (f" and {more} more" if more > 0 else ""))
    fact("Kind", entry.kind + (f", {entry.architecture}" if entry.architecture else ""))
    fact("Family", entry.family)
    fact("arXiv", entry.arxiv)
    for kind, url in entry.links.items():
        fact(kind.replace("_", " ").capitalize(), url)
    fact("Parameters", params_text(entry.params))
    fact("Pretraining", entry.pretraining)
    fact("Corpus", entry.corpus)
    fact("License", entry.license)
    fact("Topics", ", ".join(entry.topics))

    parts: list = [facts]

    def section(title: str, body) -> None:
        parts.extend([Text(""), Text(title, style="bold cyan"), body])

    if entry.status == "draft":
        section("Status", Text("draft: not written up yet", style="yellow"))
    if entry.problem:
        section("Problem", Text(entry.problem))
    if entry.solution:
        section("Solution", Text(entry.solution))
    if entry.key_ideas:
        bullets = Table.grid(padding=(0, 1))
        bullets.add_column(no_wrap=True)
        bullets.add_column(overflow="fold")
        for idea in entry.key_ideas:
            bullets.add_row("•", Text(idea))
        section("Key ideas", bullets)
    if parents:
        section("Parents", _links(parents))
    if children:
        section("Children", _links(children))
    if uses:
        section("Uses", Text(", ".join(f"{e.name} ({e.id})" for e in uses)))
    counts = f"influenced {influenced} entr{'y' if influenced == 1 else 'ies'} (children and grandchildren)"
    if adopted_by:
        counts += f"; adopted by {len(adopted_by)}"
    section("Influence", Text(counts))
    if entry.demo:
        section("Demo", Text(f"evollm demo {entry.demo}   (or: evollm show {entry.id} --run-demo)"))
    if overridden:
        section("Note", Text(f"your local correction ({path}) replaces the shipped entry", style="yellow"))
    title = Text(entry.name, style="bold")
    title.append(f"  {entry.id}", style="dim")
    return Panel(Group(*parts), title=title, title_align="left", expand=True)


def _links(links) -> Text:
    text = Text()
    for i, (other, relation, note) in enumerate(links):
        if i:
            text.append("\n")
        text.append(f"{relation:<11}", style="magenta")
        text.append(f"{other.name} ({other.id}, {other.date[:7]})", style="bold")
        if note:
            text.append(f": {note}")
    return text
