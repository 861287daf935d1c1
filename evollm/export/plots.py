"""Terminal charts drawn with plotext (imported here, inside the functions, and nowhere else).

Each function returns the chart as text; `colour=False` gives plain characters (for a pipe, a
test or NO_COLOR), in which the series stay apart by their marker.
"""

from __future__ import annotations

import math

from evollm.export.charts import ParamPoint, per_year_by_kind
from evollm.export.svg import ARCH_NAMES
from evollm.render import human_count

_ARCH_ORDER = ("decoder", "encoder", "encoder-decoder", "hybrid", "state-space")
_KIND_MARKERS = ("█", "▓", "▒", "░", "▚", "▞", "▪")


def _figure(width: int, height: int):
    import plotext

    figure = plotext.figure
    figure.clear()
    figure.plot_size(width, height)
    figure.theme("clear")
    return figure


def _render(figure, colour: bool) -> str:
    return figure.build().string(colorless=not colour).rstrip() + "\n"


def params_chart(points: list[ParamPoint], *, width: int = 100, height: int = 30, colour: bool = False,
                 title: str = "Parameters of released models (log scale)") -> tuple[str, int, int]:
    """(the chart, names shown, names to show): a mark per model size, the largest named where it fits."""
    if not points:
        return "No entry with a parameter count matches.\n", 0, 0
    figure = _figure(width, height)
    values = [p.total for p in points] + [p.active for p in points if p.active]
    low = math.floor(math.log10(min(values)))
    high = max(low + 1, math.ceil(math.log10(max(values))))
    first = math.floor(min(p.when for p in points))
    last = math.floor(max(p.when for p in points)) + 1

    groups: dict[str, list[ParamPoint]] = {}
    for p in points:
        groups.setdefault(p.architecture if p.architecture in _ARCH_ORDER else "other", []).append(p)
    for arch in (*_ARCH_ORDER, "other"):
        members = groups.get(arch)
        if members:
            signal = figure.signal([p.when for p in members], [math.log10(p.total) for p in members], marker="●")
            figure.draw(signal.label(ARCH_NAMES.get(arch, "other")))
    moe = [p for p in points if p.active]
    if moe:
        signal = figure.signal([p.when for p in moe], [math.log10(p.active) for p in moe], marker="○")
        figure.draw(signal.label("active (mixture of experts)"))

    # Names on a grid of cells, the biggest models first, each only where it covers nothing placed.
    plot_w, plot_h = max(10, width - 8), max(5, height - 4)  # minus the tick labels and the frame

    def cell(when: float, log_count: float) -> tuple[int, int]:
        col = round((when - first) / (last - first) * (plot_w - 1))
        row = round((high - log_count) / (high - low) * (plot_h - 1))
        return col, row

    taken: set[tuple[int, int]] = {cell(p.when, math.log10(p.total)) for p in points}
    taken |= {cell(p.when, math.log10(p.active)) for p in moe}
    legend_w = 6 + max(len(ARCH_NAMES.get(a, "other")) for a in groups) if not moe else 34
    taken |= {(c, r) for c in range(legend_w) for r in range(len(groups) + bool(moe) + 2)}
    named = [p for p in points if p.largest]
    shown = 0
    for p in sorted(named, key=lambda p: (-p.total, p.when)):
        col, row = cell(p.when, math.log10(p.total))
        span = len(p.name)
        for start, align in ((col + 2, "left"), (col - 1 - span, "left")):
            cells = {(c, row) for c in range(start - 1, start + span + 1)}
            if start >= 0 and start + span <= plot_w and not cells & taken:
                taken |= cells
                x = first + start / (plot_w - 1) * (last - first)
                figure.draw(figure.text(x, math.log10(p.total), p.name, alignment=align))
                shown += 1
                break

    figure.ruler("x").lim(first, last)
    step = 1 if (last - first) * 6 <= plot_w else 2
    figure.ruler("x").ticks(list(range(first, last + 1, step)))
    figure.ruler("y").lim(low, high)
    figure.ruler("y").ticks(list(range(low, high + 1)), [human_count(10 ** k) for k in range(low, high + 1)])
    figure.title(title)
    return _render(figure, colour), shown, len(named)


def count_chart(entries, *, width: int = 100, height: int = 24, colour: bool = False,
                title: str = "Entries per year, by kind") -> str:
    """Stacked bars: per year, how many entries of each kind."""
    years, by_kind = per_year_by_kind(entries)
    if not years:
        return "No entries match.\n"
    figure = _figure(width, height)
    labels = [str(y) for y in years]
    base = [0] * len(years)
    for i, (kind, counts) in enumerate(by_kind.items()):
        top = [b + c for b, c in zip(base, counts)]
        signal = figure.bar(labels, base, top, marker=_KIND_MARKERS[i % len(_KIND_MARKERS)], width=0.7)
        figure.draw(signal.label(kind))
        base = top
    if len(years) * 6 > width - 8:  # too many years to label each: every second one
        figure.ruler("x").ticks(list(range(1, len(years) + 1, 2)), labels[::2])
    figure.ruler("y").lim(0, max(base) + 1)
    figure.title(title)
    return _render(figure, colour)
