"""The export commands: export (formats), plot (terminal charts) and trends (growth rates)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from evollm.cli.common import (
    DataOption,
    ExportFormat,
    FamilyOption,
    JsonOption,
    KindOption,
    LabOption,
    PlotName,
    TopicOption,
    YearOption,
    commands_of,
    filtered,
    group,
    output as out,
)

app = group()
command = commands_of(app)


_FORMATS = "json, yaml, csv, bibtex, markdown, html"


def _power_tick(value: float) -> str:
    import math

    return f"1e{round(math.log10(value))}"


def _human_tick(value: float) -> str:
    from evollm.render import human_count

    return human_count(value)


# plot name -> (entry field, title, y-axis label of a power of ten)
_CHARTS = {
    "params": ("params", "Parameters of released models (log scale)", _human_tick),
    "context": ("context", "Context window at release, tokens (log scale)", _human_tick),
    "tokens": ("training_tokens", "Training tokens (log scale)", _human_tick),
    "compute": ("training_compute", "Training compute, FLOP (log scale)", _power_tick),
}


@command()
def export(
    fmt: Annotated[Optional[ExportFormat], typer.Option("--format", case_sensitive=False,
                                                        help="default: from the -o file's suffix. (Family trees as Mermaid or "
                                                             "Graphviz: evollm tree --format mermaid|dot.)",
                                               show_default=False)] = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write to this file instead of stdout.",
                                                   show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite the -o file if it exists.")] = False,
    year: YearOption = None,
    lab: LabOption = None,
    kind: KindOption = None,
    topic: TopicOption = None,
    family: FamilyOption = None,
    data: DataOption = None,
) -> None:
    """Write the entries as JSON, YAML, CSV, BibTeX, Markdown or one static HTML page."""
    from evollm.errors import CannotWrite, NotFound, UsageError
    from evollm.export import EXPORTERS, format_for

    fmt = fmt.value if fmt is not None else None
    if fmt is None:
        fmt = format_for(output) if output is not None else None
        if fmt is None:
            hint = f" (cannot tell from {output.name!r})" if output is not None else ""
            raise UsageError(f"give --format{hint}; accepted: {_FORMATS}")
    fmt = fmt.lower()
    if fmt not in EXPORTERS:
        raise UsageError(f"unknown format {fmt!r}; accepted: {_FORMATS}")
    if output is not None and output.is_dir():
        raise UsageError(f"{output} is a folder; give a file name, e.g. -o {output / ('evollm.' + fmt)}")
    if output is not None and not output.parent.is_dir():
        raise NotFound(f"no folder {str(output.parent)!r} to write {output.name} in")
    kb, entries = filtered(data, year, lab, kind, topic, family)
    text = EXPORTERS[fmt](entries, kb)
    err = out().console(stderr=True)
    if not entries:
        err.print("warning: no entries match; the export is empty", markup=False)
    if output is None:
        out().write(text)
        return
    from evollm.fileio import write_atomic

    try:
        write_atomic(output, text, overwrite=force)
    except OSError as exc:
        raise CannotWrite(f"cannot write {output}: {exc.strerror or exc}") from None
    from evollm.text import visible

    err.print(visible(f"wrote {len(entries)} entr{'y' if len(entries) == 1 else 'ies'} as {fmt} to {output}"),
              markup=False)


@command()
def plot(
    what: Annotated[PlotName, typer.Argument(metavar="WHAT", case_sensitive=False, help="params, context, tokens or compute over time (log scale), or count (entries per year).")],
    year: YearOption = None,
    lab: LabOption = None,
    kind: KindOption = None,
    topic: TopicOption = None,
    family: FamilyOption = None,
    height: Annotated[Optional[int], typer.Option("--height", min=10, help="Rows of the chart (default: fits the terminal).",
                                                  show_default=False)] = None,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Charts in the terminal: parameters, context, training tokens or compute over time, or entries per year."""
    from evollm.export import charts

    what = what.value
    _, entries = filtered(data, year, lab, kind, topic, family)
    if what == "count":
        if as_json:
            out().json(charts.count_json(entries))
            return
    else:
        field, title, tick = _CHARTS[what]
        points = charts.param_points(entries) if what == "params" else charts.measure_points(entries, field)
        if as_json:
            out().json(charts.points_json(points, value_key="total" if what == "params" else "value"))
            return
    from evollm.export import plots

    colour = out().colour
    width = max(40, out().width)
    rows = height or max(16, min(40, out().height - 4))
    if what != "count":
        chart, shown, named = plots.params_chart(points, width=width, height=rows, colour=colour, title=title,
                                                 tick=tick)
        out().write(chart)
        if shown < named:
            out().console(stderr=True).print(
                f"{shown} of {named} names fit on the chart; narrow it with --family, --lab or --year",
                markup=False, style="dim")
    else:
        out().write(plots.count_chart(entries, width=width, height=rows, colour=colour))


@command()
def trends(
    since: Annotated[Optional[int], typer.Option("--since", help="Only entries from this year on.", show_default=False)] = None,
    until: Annotated[Optional[int], typer.Option("--until", help="Only entries up to this year.", show_default=False)] = None,
    kind: KindOption = None,
    frontier: Annotated[bool, typer.Option("--frontier", help="Fit only the entries that set a new record when they appeared.")] = False,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the bootstrap resampling (the interval is reproducible).")] = 0,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Growth per year and doubling time of parameters, context, training tokens and compute."""
    from evollm.query import FIRST_YEAR
    from evollm.trends import trends as fit_trends

    years = None if since is None and until is None else f"{since or FIRST_YEAR}..{until or _this_year()}"
    _, entries = filtered(data, years, None, kind, None, None)
    view = fit_trends(entries, since=since, until=until, kind=kind, frontier=frontier, seed=seed)
    if as_json:
        out().json(view.to_json())
        return
    from evollm.render.trends import trends_table, trends_tsv

    if out().terminal:
        out().console().print(trends_table(view))
    else:
        out().write(trends_tsv(view))


def _this_year() -> int:
    import datetime as dt

    return dt.date.today().year
