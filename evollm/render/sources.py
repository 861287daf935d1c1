"""What `check arxiv` and `check links` found, as tables. Every cell is a `literal`: titles come
from arXiv's answers and URLs from the web, and neither is ever read as markup."""

from __future__ import annotations

from rich.table import Table

from evollm.render import literal


def mismatch_table(mismatches) -> Table:
    table = Table(box=None, header_style="bold", title="Differences from arXiv", title_justify="left")
    table.add_column("Entry", style="bold", overflow="fold")
    table.add_column("arXiv", style="dim", no_wrap=True)
    table.add_column("Field", no_wrap=True)
    table.add_column("Ours", overflow="fold")
    table.add_column("arXiv's", overflow="fold")
    for m in mismatches:
        theirs = f"{m.theirs}\n({m.note})" if m.note else m.theirs
        table.add_row(literal(m.entry_id), literal(m.arxiv_id), literal(m.field), literal(m.ours), literal(theirs))
    return table


_STATE_ORDER = {"dead": 0, "redirected": 1, "blocked": 2}
_STATE_STYLE = {"dead": "red", "redirected": "yellow", "blocked": "dim"}


def links_table(findings) -> Table:
    table = Table(box=None, header_style="bold")
    table.add_column("Entry", style="bold", overflow="fold")
    table.add_column("Field", style="dim", no_wrap=True)
    table.add_column("State", no_wrap=True)
    table.add_column("URL", overflow="fold")
    table.add_column("Detail", overflow="fold")
    for f in sorted(findings, key=lambda f: _STATE_ORDER[f.link.state]):
        table.add_row(literal(f.entry_id), literal(f.where), literal(f.link.state, _STATE_STYLE[f.link.state]),
                      literal(f.link.url), literal(f.link.detail))
    return table
