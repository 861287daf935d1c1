"""Terminal charts drawn with plotext (imported here, inside the functions, and nowhere else).

Each function returns the chart as text; `colour=False` gives plain characters (for a pipe, a
test or NO_COLOR), in which the series stay apart by their marker.
"""

from __future__ import annotations

import math

from evollm.export.charts import ParamPoint, per_year_by_kind
from evollm.export.svg import ARCH_NAMES
from evollm.render import human_count

# A marker and a colour (a 256-colour code) per architecture: the series stay apart without colour.
_ARCH_MARKERS = {"decoder": ("●", 12), "encoder": ("◆", 13), "encoder-decoder": ("■", 10), "hybrid": ("▲", 3),
                 "state-space": ("▼", 14), "other": ("✚", 8)}
_ACTIVE_MARKER = "○"
_KIND_MARKERS = (("█", 12), ("▓", 10), ("▒", 13), ("░", 3), ("▚", 14), ("▞", 9), ("▪", 8))


def _paint(text: str, colour: int):
    """`text` in a colour of its own, so plotext does not give it the next colour of its cycle."""
    from plotext import colorize, pixel

    return colorize(text, pixel(foreground=colour))


def _figure(width: int, height: int):
    import plotext

    plotext.terminal.limit(False, False)  # the caller sizes the chart; plotext would clip it to the tty
    figure = plotext.figure
    figure.clear()
    figure.plot_size(width, height)
    figure.theme("simple")  # no background and no colour on the frame: it suits a dark or a light terminal
    figure.legend(active=False)  # drawn inside the plot it covers data: `legend()` writes it below
    return figure


def _render(figure, colour: bool) -> str:
    return figure.build().string(colorless=not colour).rstrip() + "\n"


def legend(pairs: list[tuple[str, str]]) -> str:
    """'● decoder-only   ◆ encoder-only' for (marker, name) pairs."""
    return "   ".join(f"{marker} {name}" for marker, name in pairs) + "\n"


def params_chart(points: list[ParamPoint], *, width: int = 100, height: int = 30, colour: bool = False,
                 title: str = "Parameters of released models (log scale)",
                 tick=human_count) -> tuple[str, int, int]:
    """(the chart and its legend, names shown, names to show): a mark per model size, the largest of
    each entry named where the name fits."""
    if not points:
        return "No entry with this number matches.\n", 0, 0
    figure = _figure(width, height)
    values = [p.total for p in points] + [p.active for p in points if p.active]
    low = math.floor(math.log10(min(values)))
    high = max(low + 1, math.ceil(math.log10(max(values))))
    first = math.floor(min(p.when for p in points))
    last = math.floor(max(p.when for p in points)) + 1

    groups: dict[str, list[ParamPoint]] = {}
    for p in points:
        groups.setdefault(p.architecture if p.architecture in _ARCH_MARKERS else "other", []).append(p)
    key = []
    for arch, (marker, code) in _ARCH_MARKERS.items():
        members = groups.get(arch)
        if members:
            figure.draw(figure.signal([p.when for p in members], [math.log10(p.total) for p in members],
                                      marker=_paint(marker, code)))
            key.append((marker, ARCH_NAMES.get(arch, "other")))
    moe = [p for p in points if p.active]
    for arch, (_, code) in _ARCH_MARKERS.items():
        members = [p for p in groups.get(arch, []) if p.active]
        if members:
            figure.draw(figure.signal([p.when for p in members], [math.log10(p.active) for p in members],
                                      marker=_paint(_ACTIVE_MARKER, code)))
    if moe:
        key.append((_ACTIVE_MARKER, "active parameters (mixture of experts)"))
    colour_of = {p.entry_id: _ARCH_MARKERS[arch][1] for arch, members in groups.items() for p in members}

    # Names on the grid of cells, the biggest models first, each only where it covers nothing placed.
    tick_w = max(len(tick(10 ** k)) for k in range(low, high + 1))
    plot_w, plot_h = max(10, width - tick_w - 2), max(5, height - 4)  # minus ticks, frame, title

    def cell(when: float, log_count: float) -> tuple[int, int]:
        col = round((when - first) / (last - first) * (plot_w - 1))
        row = round((high - log_count) / (high - low) * (plot_h - 1))
        return col, row

    taken: set[tuple[int, int]] = {cell(p.when, math.log10(p.total)) for p in points}
    taken |= {cell(p.when, math.log10(p.active)) for p in moe}
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
                figure.draw(figure.text(x, math.log10(p.total), _paint(p.name, colour_of[p.entry_id]),
                                        alignment=align))
                shown += 1
                break

    figure.ruler("x").lim(first, last)
    step = 1 if (last - first) * 6 <= plot_w else 2
    figure.ruler("x").ticks(list(range(first, last + 1, step)))
    figure.ruler("y").lim(low, high)
    figure.ruler("y").ticks(list(range(low, high + 1)), [tick(10 ** k) for k in range(low, high + 1)])
    figure.title(title)
    return _render(figure, colour) + legend(key), shown, len(named)


def count_chart(entries, *, width: int = 100, height: int = 24, colour: bool = False,
                title: str = "Entries per year, by kind") -> str:
    """Stacked bars: per year, how many entries of each kind."""
    years, by_kind = per_year_by_kind(entries)
    if not years:
        return "No entries match.\n"
    figure = _figure(width, height)
    labels = [str(y) for y in years]
    base = [0] * len(years)
    key = []
    for i, (kind, counts) in enumerate(by_kind.items()):
        top = [b + c for b, c in zip(base, counts)]
        marker, code = _KIND_MARKERS[i % len(_KIND_MARKERS)]
        figure.draw(figure.bar(labels, base, top, marker=_paint(marker, code), width=0.7))
        key.append((marker, kind))
        base = top
    if len(years) * 6 > width - 8:  # too many years to label each: every second one
        figure.ruler("x").ticks(list(range(1, len(years) + 1, 2)), labels[::2])
    most = max(base)
    step = max(1, math.ceil(most / 5))
    figure.ruler("y").lim(0, most)
    figure.ruler("y").ticks(list(range(0, most + 1, step)))
    figure.title(title)
    return _render(figure, colour) + legend(key)
