"""Exporters: pure functions from entries to text, in registries (dicts) by format name.

`EXPORTERS[name](entries, kb) -> str` writes the entries (a filtered list, in date order); `kb` is
the whole knowledge base, for what needs more than the entries (stable citation keys, the
children of an entry). `GRAPH_FORMATS` in `graphs.py` draws lineage trees the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from evollm.export import bibtex, data, html, markdown

EXPORTERS: dict[str, Callable[..., str]] = {
    "json": data.to_json,
    "yaml": data.to_yaml,
    "csv": data.to_csv,
    "bibtex": bibtex.to_bibtex,
    "markdown": markdown.to_markdown,
    "html": html.to_html,
}

# The format a file name implies, for `evollm export -o refs.bib` without --format.
SUFFIXES = {".json": "json", ".yaml": "yaml", ".yml": "yaml", ".csv": "csv", ".bib": "bibtex",
            ".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html"}


def format_for(path: Path) -> str | None:
    return SUFFIXES.get(Path(path).suffix.lower())
