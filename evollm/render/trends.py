"""The `trends` table: one row per quantity, for a terminal (a rich Table) or a pipe (tab-separated)."""

from __future__ import annotations

from evollm.render import human_amount
from evollm.trends import Fit, TrendsView

HEADER = ("quantity", "entries", "excluded", "growth/yr", "90% interval", "doubling (months)", "90% interval",
          "first record", "latest record")


def cells(row) -> list[str]:
    def holder(p):
        return f"{p.name} ({p.date[:7]}, {human_amount(p.value, row.unit)})" if p else "-"

    if row.fit is None:
        growth = interval = doubling = doubling_interval = "-"
    else:
        f = row.fit
        growth = _times(f.growth)
        months = Fit.doubling(f.slope)
        doubling = f"{months:.1f}" if months else "no growth"
        if f.low is None:
            interval = doubling_interval = "too few points"
        else:
            interval = f"{_times(10 ** f.low)}-{_times(10 ** f.high)}"
            fast, slow = Fit.doubling(f.high), Fit.doubling(f.low)
            doubling_interval = f"{fast:.1f}-{slow:.1f}" if fast and slow else (f">= {fast:.1f}" if fast else "-")
    return [row.quantity, str(row.counted), str(row.excluded), growth, interval, doubling, doubling_interval,
            holder(row.first), holder(row.latest)]


def _times(factor: float) -> str:
    """A growth factor: '2.00x', or '3.1e+05x' when it is huge."""
    return f"{factor:.2f}x" if factor < 1000 else f"{factor:.2g}x"


def trends_tsv(view: TrendsView) -> str:
    """A header and one line per quantity, tab-separated, every field whole (for grep, cut and awk)."""
    lines = ["\t".join(HEADER)] + ["\t".join(cells(row)) for row in view.rows]
    return "\n".join(lines) + "\n"


def trends_table(view: TrendsView):
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    span = f"{view.since or 'first'}..{view.until or 'now'}"
    title = f"Growth of the numbers, {span}" + (" (record setters only)" if view.frontier else "")
    table = Table(title=Text(title), title_justify="left")
    for n, name in enumerate(HEADER):
        table.add_column(Text(name), justify="right" if 1 <= n <= 6 else "left")
    for row in view.rows:
        table.add_row(*(Text(cell) for cell in cells(row)))
    notes = [Text(row.sentence()) for row in view.rows]
    return Group(table, *notes)
