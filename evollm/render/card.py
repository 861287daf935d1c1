"""The card of one entry: what it solved, how, and where it sits in the lineage."""

from __future__ import annotations

from evollm.render import human_amount, human_count, measure_text, params_text
from evollm.render.styled import Styled
from evollm.vocab import MEASURES


def card(entry, *, parents, children, uses, adopted_by, influenced: int, overridden: bool, path: str,
         width: int = 80, sources: bool = False) -> Styled:
    """`parents`/`children`: (Entry, relation, note) triples; `uses`/`adopted_by`: Entries.
    `sources`: end with every number and the page it rests on, then the entry's sources."""
    out = Styled()
    out.add(entry.name, "bold").add(f"  {entry.id}", "dim").end()
    out.add("─" * min(width, 80), "dim").end()
    facts = [
        ("Title", entry.title),
        ("Date", entry.date + (f"  ({entry.date_note})" if entry.date_note else "")),
        ("Labs", ", ".join(entry.labs)),
        ("Authors", _authors(entry.authors)),
        ("Kind", entry.kind + (f", {entry.architecture}" if entry.architecture else "")),
        ("Family", entry.family),
        ("arXiv", entry.arxiv),
        *[(kind.replace("_", " ").capitalize(), url) for kind, url in entry.links.items()],
        ("Parameters", params_text(entry.params)),
        *[(label, measure_text(getattr(entry, name), unit)) for name, (label, unit) in MEASURES.items()],
        ("Pretraining", entry.pretraining),
        ("Corpus", entry.corpus),
        ("License", entry.license),
        ("Topics", ", ".join(entry.topics)),
    ]
    for label, value in facts:
        if value:
            out.wrapped(value, width, label=label, label_style="bold", indent=13)

    def section(title: str) -> None:
        out.end().add(title, "bold cyan").end()

    if entry.status == "draft":
        section("Status")
        out.add("draft: not written up yet", "yellow").end()
    for title, text in (("Problem", entry.problem), ("Solution", entry.solution)):
        if text:
            section(title)
            out.wrapped(text, width)
    if entry.key_ideas:
        section("Key ideas")
        for idea in entry.key_ideas:
            out.wrapped(idea, width, label="•", indent=2)
    for title, links in (("Parents", parents), ("Children", children)):
        if links:
            section(title)
            for other, relation, note in links:
                text = f"{other.name} ({other.id}, {other.date[:7]})" + (f": {note}" if note else "")
                out.wrapped(text, width, label=relation, label_style="magenta", indent=11)
    if uses:
        section("Uses")
        out.wrapped(", ".join(f"{e.name} ({e.id})" for e in uses), width)
    section("Influence")
    counts = f"influenced {influenced} entr{'y' if influenced == 1 else 'ies'} (children and grandchildren)"
    out.wrapped(counts + (f"; adopted by {len(adopted_by)}" if adopted_by else ""), width)
    if entry.demo:
        section("Demo")
        out.add(f"evollm demo {entry.demo}   (or: evollm show {entry.id} --run-demo)").end()
    if sources:
        section("Sources of the numbers")
        _number_sources(out, entry, width)
        section("Sources")
        for url in entry.sources:
            out.wrapped(url, width, label="•", indent=2)
    if overridden:
        section("Note")
        out.wrapped(f"your local correction ({path}) replaces the shipped entry", width, style="yellow")
    return out


def _authors(authors: list[str]) -> str:
    shown = authors[:8]
    more = len(authors) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _number_sources(out: Styled, entry, width: int) -> None:
    """Each number on its own line with the page that states it (params without a page of their
    own rest on the entry's sources, and the line says so)."""
    rows = []
    for p in entry.params:
        value = human_count(p.total) + (f" ({human_count(p.active)} active)" if p.active is not None else "")
        rows.append(("Parameters", f"{p.label}: {value}", p.source or "the entry's sources (below)", None))
    for name, (label, unit) in MEASURES.items():
        for m in getattr(entry, name):
            value = (f"{m.label}: " if m.label else "") + human_amount(m.value, unit)
            rows.append((label, value + (" (est.)" if m.estimated else ""), m.source, m.note))
    if not rows:
        out.wrapped("no numbers", width, style="dim")
    for label, value, source, note in rows:
        out.wrapped(f"{value}  <- {source}" + (f"  ({note})" if note else ""), width, label=label,
                    label_style="bold", indent=18)
