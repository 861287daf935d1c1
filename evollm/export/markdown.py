"""Markdown for a blog post: a year-by-year timeline, then a numbered reference list.

References are numbered in timeline order (one per paper: entries sharing an arXiv id share a
number). Text from the data is escaped, so a `*` or `<` in a title is shown, not interpreted.
"""

from __future__ import annotations

import re

from evollm.export.bibtex import paper_of
from evollm.text import safe_url

_SPECIAL = re.compile(r"([\\`*_\[\]<>&|~$])")
_MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
                "October", "November", "December")


def md(text: str) -> str:
    """Text shown literally by CommonMark and GitHub: one line, punctuation that means something escaped."""
    return _SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _link(text: str, url: str | None) -> str:
    url = safe_url(url)
    return f"[{text}]({url})" if url else text


def _url(entry) -> str | None:
    if entry.links.get("paper"):
        return safe_url(entry.links["paper"])
    if entry.arxiv:
        return f"https://arxiv.org/abs/{entry.arxiv}"
    return next((safe_url(url) for url in entry.links.values() if safe_url(url)), None)


def _people(entry) -> str:
    authors = [a for a in entry.authors if a.strip().rstrip(".").lower() != "et al"]
    if not authors:
        return ", ".join(entry.labs)
    shown = authors[:3]
    more = len(authors) > 3 or len(authors) < len(entry.authors)
    return ", ".join(shown) + (", et al." if more else "")


def first_sentence(text: str) -> str:
    """The text up to its first full stop that ends a sentence."""
    return re.split(r"(?<=[.!?])\s+(?=[A-Z])", " ".join(text.split()), maxsplit=1)[0] if text else ""


def reference(entry) -> str:
    """Authors (Month Year). *Title*. arXiv:id. URL"""
    month = _MONTH_NAMES[int(entry.date[5:7]) - 1]
    parts = [f"{md(_people(entry))} ({month} {entry.year}). *{md(entry.title)}*."]
    if entry.arxiv:
        parts.append(f"arXiv:{entry.arxiv}.")
    url = _url(entry)
    if url:
        parts.append(f"<{url}>")
    return " ".join(parts)


def to_markdown(entries, kb=None, *, title: str = "How large language models evolved") -> str:
    from evollm.query import load_eras

    entries = list(entries)
    eras = load_eras()
    numbers: dict[str, int] = {}
    references: list[str] = []
    for entry in entries:
        paper = paper_of(entry)
        if paper not in numbers:
            numbers[paper] = len(references) + 1
            references.append(reference(entry))
    lines = [f"# {md(title)}", ""]
    if entries:
        span = f"{entries[0].year}" if entries[0].year == entries[-1].year else f"{entries[0].year}–{entries[-1].year}"
        lines += [f"{len(entries)} papers and models, {span}, in the order they appeared.", ""]
    else:
        lines += ["No entries.", ""]
    lines += ["## Timeline", ""]
    year = None
    for entry in entries:
        if entry.year != year:
            year = entry.year
            era = eras.get(year, {}).get("title")
            lines += ([""] if lines[-1] != "" else []) + [f"### {year}" + (f": {md(era)}" if era else ""), ""]
        what = entry.kind if not entry.architecture or entry.architecture == "none" else f"{entry.architecture} {entry.kind}"
        line = (f"- **{entry.date[:7]}** {_link('**' + md(entry.name) + '**', _url(entry))}: {md(entry.title)}"
                f" ({md(', '.join(entry.labs))}; {md(what)}) [{numbers[paper_of(entry)]}]")
        summary = first_sentence(entry.solution)
        lines.append(line + ("\\" if summary else ""))
        if summary:
            lines.append(f"  {md(summary)}")
    if references:
        lines += ["", "## References", ""]
        lines += [f"{n}. {ref}" for n, ref in enumerate(references, 1)]
    return "\n".join(lines) + "\n"
