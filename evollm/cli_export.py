"""The `export`, `stats` and `plot` commands: parse, call evollm.export, write or print.

Registered on evollm's app by the import at the end of cli.py.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from evollm.cli import (
    DataOption,
    FamilyOption,
    JsonOption,
    KindOption,
    LabOption,
    TopicOption,
    _console,
    _filtered,
    _is_terminal,
    _print_json,
    command,
)

YearOption = Annotated[
    Optional[str], typer.Option("--year", help="Only entries of this year (2019) or range (2017..2020).")
]
_FORMATS = "json, yaml, csv, bibtex, markdown, html"
_PLOTS = ("params", "context", "tokens", "compute", "count")


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
    fmt: Annotated[Optional[str], typer.Option("--format", help=f"{_FORMATS} (default: from the -o file's suffix).",
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
    from evollm.errors import EvollmError, NotFound, UsageError
    from evollm.export import EXPORTERS, format_for

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
    kb, entries = _filtered(data, year, lab, kind, topic, family)
    text = EXPORTERS[fmt](entries, kb)
    err = _console(stderr=True)
    if not entries:
        err.print("warning: no entries match; the export is empty", markup=False)
    if output is None:
        sys.stdout.write(text)
        return
    from evollm.fileio import write_atomic

    try:
        write_atomic(output, text, overwrite=force)
    except OSError as exc:
        raise EvollmError(f"cannot write {output}: {exc.strerror or exc}") from None
    from evollm.text import visible

    err.print(visible(f"wrote {len(entries)} entr{'y' if len(entries) == 1 else 'ies'} as {fmt} to {output}"),
              markup=False)


@command()
def stats(
    year: YearOption = None,
    lab: LabOption = None,
    kind: KindOption = None,
    topic: TopicOption = None,
    family: FamilyOption = None,
    top: Annotated[int, typer.Option("--top", help="Rows of the lab and topic tables (the most frequent).")] = 12,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """How many entries there are by year, kind, architecture, family, lab and topic."""
    from evollm.errors import UsageError
    from evollm.export.charts import tallies

    if top < 1:
        raise UsageError(f"--top must be 1 or more, got {top}")
    _, entries = _filtered(data, year, lab, kind, topic, family)
    counts = tallies(entries)
    if as_json:
        _print_json({"entries": len(entries), **{f"by_{name}": dict(rows) for name, rows in counts.items()}})
        return
    from evollm.render.stats import stats_view

    console = _console()
    console.print(stats_view(len(entries), counts, top=top, width=console.width))


@command()
def plot(
    what: Annotated[str, typer.Argument(metavar="WHAT", help="params, context, tokens or compute over time (log scale), or count (entries per year).")],
    year: YearOption = None,
    lab: LabOption = None,
    kind: KindOption = None,
    topic: TopicOption = None,
    family: FamilyOption = None,
    height: Annotated[Optional[int], typer.Option("--height", help="Rows of the chart (default: fits the terminal).",
                                                  show_default=False)] = None,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Charts in the terminal: parameters, context, training tokens or compute over time, or entries per year."""
    from evollm.errors import UsageError
    from evollm.export import charts

    if what not in _PLOTS:
        raise UsageError(f"unknown plot {what!r}; accepted: {', '.join(_PLOTS)}")
    if height is not None and height < 10:
        raise UsageError(f"--height must be 10 or more, got {height}")
    _, entries = _filtered(data, year, lab, kind, topic, family)
    if what == "count":
        if as_json:
            years, by_kind = charts.per_year_by_kind(entries)
            _print_json([{"year": y, **{k: counts[i] for k, counts in by_kind.items()}} for i, y in enumerate(years)])
            return
    else:
        field, title, tick = _CHARTS[what]
        points = charts.param_points(entries) if what == "params" else charts.measure_points(entries, field)
        if as_json:
            _print_json(charts.points_json(points, value_key="total" if what == "params" else "value"))
            return
    from evollm.export import plots

    console = _console()
    colour = console.is_terminal and not console.no_color
    width = max(40, console.width)
    rows = height or max(16, min(40, console.height - 4))
    if what != "count":
        chart, shown, named = plots.params_chart(points, width=width, height=rows, colour=colour, title=title,
                                                 tick=tick)
        sys.stdout.write(chart)
        if shown < named:
            _console(stderr=True).print(
                f"{shown} of {named} names fit on the chart; narrow it with --family, --lab or --year",
                markup=False, style="dim")
    else:
        sys.stdout.write(plots.count_chart(entries, width=width, height=rows, colour=colour))


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
    _, entries = _filtered(data, years, None, kind, None, None)
    view = fit_trends(entries, since=since, until=until, kind=kind, frontier=frontier, seed=seed)
    if as_json:
        _print_json(view.to_json())
        return
    from evollm.render.trends import trends_table, trends_tsv

    if _is_terminal():
        _console().print(trends_table(view))
    else:
        sys.stdout.write(trends_tsv(view))


def _this_year() -> int:
    import datetime as dt

    return dt.date.today().year
