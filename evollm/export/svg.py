"""An SVG chart of parameter counts over time (log scale), drawn from the data for the HTML page.

One mark per released model size; a mixture of experts shows its total (filled) and its active
parameters (hollow) joined by a dashed line. Each entry's largest size carries the entry's name
where the name fits without covering another; every mark has a tooltip.
"""

from __future__ import annotations

import math
from html import escape

from evollm.export.charts import ParamPoint
from evollm.render import human_count

# Colour per architecture, mid-tones readable on a light and on a dark page.
ARCH_COLOURS = {
    "decoder": "#3b78d8",
    "encoder": "#d2457f",
    "encoder-decoder": "#2e9d5b",
    "hybrid": "#d98b1f",
    "state-space": "#8a63c9",
}
OTHER_COLOUR = "#8a8f98"
ARCH_NAMES = {"decoder": "decoder-only", "encoder": "encoder-only", "encoder-decoder": "encoder-decoder",
              "hybrid": "hybrid", "state-space": "state-space"}

WIDTH, HEIGHT = 1000, 460
LEFT, RIGHT, TOP, BOTTOM = 58, 16, 54, 34  # the plot area's margins
FONT = 11
CHAR_WIDTH = 6.6  # average advance of the sans-serif font at FONT px, for placing labels


def _colour(point: ParamPoint) -> str:
    return ARCH_COLOURS.get(point.architecture or "", OTHER_COLOUR)


def _overlaps(box, boxes) -> bool:
    x0, y0, x1, y1 = box
    return any(x0 < b[2] and b[0] < x1 and y0 < b[3] and b[1] < y1 for b in boxes)


def params_svg(points: list[ParamPoint], title: str = "Parameters of released models over time",
               tick=human_count, chart_id: str = "chart-title") -> str:
    """An <svg> element (no XML prolog) to inline in a page; text is escaped."""
    if not points:
        return ""
    values = [p.total for p in points] + [p.active for p in points if p.active]
    low = math.floor(math.log10(min(values)))
    high = max(low + 1, math.ceil(math.log10(max(values))))
    first = math.floor(min(p.when for p in points))
    last = math.floor(max(p.when for p in points)) + 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(when: float) -> float:
        return LEFT + (when - first) / (last - first) * plot_w

    def y(count: float) -> float:
        return TOP + plot_h - (math.log10(count) - low) / (high - low) * plot_h

    out = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{chart_id}" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui, -apple-system, \'Segoe UI\', sans-serif" '
        f'font-size="{FONT}">',
        f'<title id="{chart_id}">{escape(title)}</title>',
        '<g class="grid" stroke="currentColor" stroke-opacity="0.14">',
    ]
    for power in range(low, high + 1):
        gy = y(10 ** power)
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{gy:.1f}" y2="{gy:.1f}"/>')
    for year in range(first, last + 1):
        gx = x(year)
        out.append(f'<line x1="{gx:.1f}" x2="{gx:.1f}" y1="{TOP}" y2="{TOP + plot_h}"/>')
    out.append("</g>")
    out.append('<g class="axis" fill="currentColor" fill-opacity="0.75">')
    for power in range(low, high + 1):
        out.append(f'<text x="{LEFT - 8}" y="{y(10 ** power) + 4:.1f}" text-anchor="end">{escape(tick(10 ** power))}</text>')
    step = 1 if last - first <= 14 else 2
    for year in range(first, last, step):
        out.append(f'<text x="{x(year + 0.5):.1f}" y="{TOP + plot_h + 22}" text-anchor="middle">{year}</text>')
    out.append("</g>")

    # Marks: MoE links first, so the dots sit on top of them.
    out.append('<g class="marks">')
    for p in points:
        if p.active:
            px, colour = x(p.when), _colour(p)
            out.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{y(p.total):.1f}" y2="{y(p.active):.1f}" '
                       f'stroke="{colour}" stroke-width="1.3" stroke-dasharray="3 2"/>')
    for p in points:
        px, colour = x(p.when), _colour(p)
        what = f"{p.name}: {p.label}, {human_count(p.total)}"
        tip = escape(what + (f" ({human_count(p.active)} active)" if p.active else "") + f", {p.date}")
        out.append(f'<circle cx="{px:.1f}" cy="{y(p.total):.1f}" r="{4.2 if p.largest else 3.2}" fill="{colour}" '
                   f'fill-opacity="0.85" stroke="white" stroke-width="0.8"><title>{tip}</title></circle>')
        if p.active:
            out.append(f'<circle cx="{px:.1f}" cy="{y(p.active):.1f}" r="3.6" fill="none" stroke="{colour}" '
                       f'stroke-width="1.6"><title>{tip}</title></circle>')
    out.append("</g>")

    # Names: the biggest models first, each where it covers no mark and no earlier name.
    placed = [(x(p.when) - 4, y(v) - 4, x(p.when) + 4, y(v) + 4) for p in points for v in (p.total, p.active) if v]
    labels = ['<g class="labels" fill="currentColor">']
    for p in sorted((p for p in points if p.largest), key=lambda p: (-p.total, p.when)):
        px, py = x(p.when), y(p.total)
        w = len(p.name) * CHAR_WIDTH
        for anchor, tx, ty in (("start", px + 7, py + 4), ("end", px - 7, py + 4),
                               ("middle", px, py - 8), ("middle", px, py + 15)):
            x0 = tx if anchor == "start" else tx - w if anchor == "end" else tx - w / 2
            box = (x0 - 1, ty - FONT + 2, x0 + w + 1, ty + 2)
            inside = LEFT <= box[0] and box[2] <= WIDTH - RIGHT and TOP - 4 <= box[1] and box[3] <= TOP + plot_h
            if inside and not _overlaps(box, placed):
                placed.append(box)
                labels.append(f'<text x="{tx:.1f}" y="{ty:.1f}" text-anchor="{anchor}">{escape(p.name)}</text>')
                break
    labels.append("</g>")
    out.extend(labels)

    # Legend, above the plot area.
    archs = [a for a in ARCH_COLOURS if any(p.architecture == a for p in points)]
    if any(p.architecture not in ARCH_COLOURS for p in points):
        archs.append("other")
    lx = LEFT
    out.append('<g class="legend" fill="currentColor">')
    for arch in archs:
        colour = ARCH_COLOURS.get(arch, OTHER_COLOUR)
        name = ARCH_NAMES.get(arch, "other")
        out.append(f'<circle cx="{lx + 5}" cy="20" r="4.5" fill="{colour}"/>'
                   f'<text x="{lx + 14}" y="24">{name}</text>')
        lx += 14 + len(name) * CHAR_WIDTH + 18
    if any(p.active for p in points):
        out.append(f'<circle cx="{lx + 5}" cy="20" r="4" fill="{OTHER_COLOUR}"/>'
                   f'<line x1="{lx + 5}" x2="{lx + 5}" y1="24" y2="33" stroke="{OTHER_COLOUR}" stroke-dasharray="3 2"/>'
                   f'<circle cx="{lx + 5}" cy="37" r="3.4" fill="none" stroke="{OTHER_COLOUR}" stroke-width="1.5"/>'
                   f'<text x="{lx + 14}" y="24">mixture of experts: total</text>'
                   f'<text x="{lx + 14}" y="41">active per token</text>')
    out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)
