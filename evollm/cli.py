"""The evollm command line: parse, call one core function, render. No domain logic here.

Every command body runs inside `_guard`, the one place where evollm's typed errors become a
message on stderr and a named exit code (so `CliRunner` tests see the same codes as users).
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from evollm import __version__
from evollm.errors import EvollmError, InvalidKnowledgeBase

app = typer.Typer(
    name="evollm",
    help="Explore how large language models evolved: timelines, paper cards, family trees, demos.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

DataOption = Annotated[
    Optional[Path],
    typer.Option("--data", envvar="EVOLLM_DATA", help="Use only the entries in this folder.", show_default=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
LabOption = Annotated[Optional[str], typer.Option("--lab", help="Only entries with a lab containing this text.")]
KindOption = Annotated[Optional[str], typer.Option("--kind", help="Only entries of this kind (model, method, ...).")]
TopicOption = Annotated[Optional[str], typer.Option("--topic", help="Only entries with this topic.")]
FamilyOption = Annotated[Optional[str], typer.Option("--family", help="Only entries of this family (GPT, BERT, ...).")]


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def _is_terminal() -> bool:
    import os

    return sys.stdout.isatty() or bool(os.environ.get("FORCE_COLOR"))


def _width() -> int:
    import shutil

    return shutil.get_terminal_size((80, 24)).columns


def _emit(renderable) -> None:
    """Print a renderer's output: through rich on a terminal, as plain text when piped."""
    from evollm.render.styled import Styled

    if isinstance(renderable, Styled) and not _is_terminal():
        text = renderable.plain()
        sys.stdout.write(text + "\n" if text else "")
    else:
        _console().print(renderable, crop=True)


def _print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _guard(func):
    """Run a command; turn an EvollmError into its message on stderr and its exit code."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except EvollmError as exc:
            from evollm.text import visible

            # Messages quote file names, URLs and answers from the network: shown, never obeyed.
            err = _console(stderr=True)
            if isinstance(exc, InvalidKnowledgeBase):
                for problem in exc.problems:
                    err.print(visible(str(problem)), markup=False, soft_wrap=True)
            err.print(f"Error: {visible(exc.message)}", markup=False, soft_wrap=True)
            raise typer.Exit(int(exc.exit_code)) from None

    return wrapper


def command(*args, **kwargs):
    """`app.command` with evollm's error boundary."""
    return lambda func: app.command(*args, **kwargs)(_guard(func))


_KEPT: list = []  # the last knowledge base loaded, kept until the process ends (see _load)


def _load(data: Path | None, *, use_cache: bool | None = None):
    from evollm.kb import load_knowledge_base

    kb = load_knowledge_base(data, use_cache=use_cache)
    # Held until the process ends (main leaves through os._exit): freed when the command
    # returned, 10,000 entries would cost ~10 ms of deallocation that nobody waits for. Only the
    # last one: tests run many commands in one process.
    _KEPT[:] = [kb]
    return kb


def _filtered(data, years, lab, kind, topic, family):
    """The knowledge base and its entries passing the timeline's filters, in date order.
    The year range is checked before the knowledge base is read."""
    from evollm import query

    span = query.parse_years(years)
    kb = _load(data)
    return kb, query.filter_entries(kb, years=span, lab=lab, kind=kind, topic=topic, family=family)


# --- reading --------------------------------------------------------------------------------


@command()
def timeline(
    years: Annotated[Optional[str], typer.Argument(metavar="YEARS", help="A year (2019) or a range (2017..2020); none for an overview.")] = None,
    lab: LabOption = None,
    kind: KindOption = None,
    topic: TopicOption = None,
    family: FamilyOption = None,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Papers and models year by year, sorted by date."""
    from evollm import query

    kb, entries = _filtered(data, years, lab, kind, topic, family)
    filtered = years is not None or any(v is not None for v in (lab, kind, topic, family))
    if as_json:
        _print_json(query.entries_json(entries))
        return
    from evollm.render import timeline as render

    eras = query.load_eras()
    if filtered:
        _emit(render.year_tables(entries, eras, width=_width()))
    else:
        _console().print(render.overview(query.overview_rows(kb, eras)))
        _console(stderr=True).print("Show one year with: evollm timeline 2019", style="dim")


@command()
def show(
    entry_id: Annotated[str, typer.Argument(metavar="ID", help="An id, alias or loose spelling (GPT2, gpt-2).")],
    open_link: Annotated[Optional[str], typer.Option("--open", help="Open a link in the browser: paper or code.")] = None,
    run_demo: Annotated[bool, typer.Option("--run-demo", help="Run the entry's reference implementation.")] = False,
    quick: Annotated[bool, typer.Option("--quick", help="With --run-demo: the short version.")] = False,
    sources: Annotated[bool, typer.Option("--sources", help="List each number with the page it rests on.")] = False,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """The card of one paper or model: problem, solution, key ideas, size, labs, lineage."""
    from evollm import graph, query
    from evollm.errors import NotFound, UsageError

    if open_link is not None and open_link not in ("paper", "code"):
        raise UsageError(f"--open takes paper or code, not {open_link!r}")
    kb = _load(data)
    entry = kb.resolve(entry_id)
    if run_demo:
        if not entry.demo:
            with_demo = ", ".join(f"{e.id} ({e.demo})" for e in kb if e.demo) or "none"
            raise NotFound(f"{entry.id} has no demo; entries with one: {with_demo}")
        _run_demo(entry.demo, seed=0, quick=quick, overrides=[], as_json=as_json)
        return
    if open_link is not None:
        url = entry.links.get(open_link)
        if not url:
            raise NotFound(f"{entry.id} has no {open_link} link")
        import webbrowser

        webbrowser.open(url)
        _console(stderr=True).print(f"opened {url}", markup=False)
        return
    parents = [(kb.entries[p.id], p.relation, p.note) for p in entry.lineage]
    children = [(kb.entries[c], link.relation, link.note) for c, link in kb.children(entry.id)]
    adopted_by = kb.adopters(entry.id)
    influenced = len(graph.descendants(kb, entry.id, depth=2))
    if as_json:
        data_out = query.entry_json(entry)
        data_out["children"] = [{"id": c.id, "relation": r, "note": n} for c, r, n in children]
        data_out["influenced"] = influenced
        data_out["adopted_by"] = [e.id for e in adopted_by]
        data_out["local_correction"] = entry.id in kb.overridden
        _print_json(data_out)
        return
    from evollm.render.card import card

    _emit(card(
        entry, parents=parents, children=children, uses=[kb.entries[u] for u in entry.uses],
        adopted_by=adopted_by, influenced=influenced, overridden=entry.id in kb.overridden,
        path=str(kb.paths[entry.id]), width=_width(), sources=sources,
    ))


@command()
def tree(
    entry_id: Annotated[Optional[str], typer.Argument(metavar="ID", help="Draw this entry's descendants.")] = None,
    family: Annotated[Optional[str], typer.Option("--family", help="Draw a whole family from its oldest member.")] = None,
    ancestors: Annotated[bool, typer.Option("--ancestors", help="Draw ancestors instead of descendants.")] = False,
    depth: Annotated[Optional[int], typer.Option("--depth", help="At most this many generations.")] = None,
    everything: Annotated[bool, typer.Option("--all", help="The whole knowledge base, from every root.")] = False,
    fmt: Annotated[str, typer.Option("--format", help="text, mermaid (flowchart) or dot (Graphviz).")] = "text",
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Family trees and lineage: an entry's descendants (or ancestors), a family, or everything."""
    from evollm import graph, query
    from evollm.errors import UsageError

    if sum(x is not None and x is not False for x in (entry_id, family, everything or None)) != 1:
        raise UsageError("give one of: an ID, --family NAME or --all (e.g. evollm tree --family bert)")
    if depth is not None and depth < 1:
        raise UsageError(f"--depth must be 1 or more, got {depth}")
    if fmt not in ("text", "mermaid", "dot"):
        raise UsageError(f"unknown format {fmt!r}; accepted: text, mermaid, dot")
    kb = _load(data)
    if everything:
        forest = graph.whole_forest(kb)
        title = "Every entry, from its roots"
    elif family is not None:
        name = query.check_family(kb, family)
        forest = graph.family_forest(kb, name)
        title = f"The {name} family"
    else:
        root = kb.resolve(entry_id)
        forest = [graph.build_tree(kb, root.id, upward=ancestors, depth=depth)]
        title = f"{'Ancestors' if ancestors else 'Descendants'} of {root.name}"
    if as_json:
        _print_json([_node_json(node) for node in forest])
        return
    if fmt != "text":
        from evollm.export import graphs

        sys.stdout.write(graphs.GRAPH_FORMATS[fmt](kb, forest, title))
        return
    from evollm.render.tree import lineage_tree

    _emit(lineage_tree(forest, kb.entries, title))


def _node_json(node) -> dict:
    out = {"id": node.id, "relation": node.relation, "repeat": node.repeat, "children": []}
    stack = [(node, out)]
    while stack:
        current, target = stack.pop()
        for child in current.children:
            child_out = {"id": child.id, "relation": child.relation, "repeat": child.repeat, "children": []}
            target["children"].append(child_out)
            stack.append((child, child_out))
    return out


@command()
def search(
    text: Annotated[str, typer.Argument(metavar="TEXT", help="Words to look for in names, titles, authors, arXiv ids and write-ups.")],
    limit: Annotated[int, typer.Option("--limit", help="Show at most this many matches.")] = 20,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Ranked matches over names, aliases, arXiv ids, titles, authors, key ideas, problems and solutions."""
    from evollm import query

    if not text.strip():
        from evollm.errors import UsageError

        raise UsageError("empty search text; give one or more words, e.g. evollm search attention")
    kb = _load(data)
    hits = query.search(kb, text, limit)
    if as_json:
        _print_json([{**query.entry_json(e), "score": round(s, 2)} for s, e in hits])
        return
    if not hits:
        _console(stderr=True).print(f"No entry matches {text!r}.", markup=False)
        return
    from evollm.render.timeline import search_hits

    _emit(search_hits([entry for _, entry in hits], width=_width()))


@command()
def validate(data: DataOption = None) -> None:
    """Check every entry and every rule across entries; list each problem as path:line."""
    from evollm.text import visible

    kb = _load(data, use_cache=False)  # always the files themselves: the cache is not evidence
    err = _console(stderr=True)
    for warning in kb.warnings:
        err.print(visible(f"warning: {warning}"), markup=False, soft_wrap=True)  # file names are data
    err.print(f"{len(kb)} entries, valid.", markup=False)


@command()
def browse(
    entry_id: Annotated[Optional[str], typer.Argument(metavar="ID", help="Open with this entry focused.")] = None,
    data: DataOption = None,
) -> None:
    """A full-screen browser: the timeline, cards, family trees, demos (keys: ? in the app)."""
    from evollm.errors import NotFound, UsageError

    kb = _load(data)
    try:
        focus = kb.resolve(entry_id).id if entry_id is not None else None
    except NotFound as exc:  # the app cannot start on it: a usage error, told before the screen starts
        raise UsageError(exc.message) from None
    from evollm.browse import run

    run(kb, focus)


# --- lineage ------------------------------------------------------------------------------


@command()
def path(
    start: Annotated[str, typer.Argument(metavar="A", help="The older entry.")],
    goal: Annotated[str, typer.Argument(metavar="B", help="The newer entry.")],
    every: Annotated[bool, typer.Option("--all", help="Every chain, shortest first.")] = False,
    limit: Annotated[int, typer.Option("--limit", help="With --all: at most this many chains.")] = 20,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """The chain of lineage from A to B, each step with its relation and note."""
    from evollm import graph
    from evollm.errors import NotFound, UsageError

    if limit < 1:
        raise UsageError("--limit must be at least 1")
    if every and limit > graph.MAX_PATHS:
        raise UsageError(f"--limit is at most {graph.MAX_PATHS} chains with --all, got {limit}")
    kb = _load(data)
    a, b = kb.resolve(start), kb.resolve(goal)
    if every:
        chains, more = graph.all_paths(kb, a.id, b.id, limit)
    else:
        shortest = graph.shortest_path(kb, a.id, b.id)
        chains, more = ([shortest] if shortest else []), False
    if not chains:
        hint = f"; {b.id} is an ancestor of {a.id}: try evollm path {b.id} {a.id}" if graph.shortest_path(kb, b.id, a.id) else ""
        raise NotFound(f"no lineage leads from {a.id} to {b.id}{hint}")
    steps = [graph.chain_steps(kb, chain) for chain in chains]
    if as_json:
        _print_json([[{"id": i, "relation": r, "note": n} for i, r, n in chain] for chain in steps])
        return
    from evollm.render.lineage import path_steps

    _emit(path_steps(kb.entries, steps, more, width=_width()))


@command()
def diff(
    first: Annotated[str, typer.Argument(metavar="A")],
    second: Annotated[str, typer.Argument(metavar="B")],
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Two entries side by side, what B adds or drops, and their nearest common ancestor."""
    from evollm import graph, query

    kb = _load(data)
    a, b = kb.resolve(first), kb.resolve(second)
    adds = [u for u in b.uses if u not in a.uses]
    drops = [u for u in a.uses if u not in b.uses]
    common_id = graph.nearest_common_ancestor(kb, a.id, b.id)
    if as_json:
        _print_json({"a": query.entry_json(a), "b": query.entry_json(b), "adds": adds, "drops": drops,
                     "common_ancestor": common_id})
        return
    from evollm.render.lineage import diff_table

    names = lambda ids: [kb.entries[i].name for i in ids]  # noqa: E731
    _console().print(diff_table(a, b, kb.entries.get(common_id), adds, drops, names))


@command()
def uses(
    technique: Annotated[str, typer.Argument(metavar="TECHNIQUE", help="A technique entry: rope, gqa, swiglu, moe, ...")],
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """The entries that adopted a technique, in date order, the first adopter marked."""
    kb = _load(data)
    tech = kb.resolve(technique)
    adopters = kb.adopters(tech.id)
    if as_json:
        _print_json([{"id": e.id, "name": e.name, "date": e.date, "first": i == 0} for i, e in enumerate(adopters)])
        return
    if not adopters:
        _console(stderr=True).print(f"No entry lists {tech.id} in its uses.", markup=False)
        return
    from evollm.render.lineage import adopters_table

    _console().print(adopters_table(tech, adopters))


@command()
def learn(
    entry_id: Annotated[str, typer.Argument(metavar="ID")],
    most: Annotated[Optional[int], typer.Option("--max", help="At most this many entries (the nearest ancestors).")] = None,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """A reading order for ID: its ancestors, each before what builds on it, then ID itself."""
    from evollm import graph, query
    from evollm.errors import UsageError

    if most is not None and most < 1:
        raise UsageError(f"--max must be 1 or more, got {most}")
    kb = _load(data)
    target = kb.resolve(entry_id)
    order = graph.reading_order(kb, target.id, most)
    items = [(kb.entries[i], _why(kb, i, order)) for i in order]
    if as_json:
        _print_json([{**query.entry_json(e), "why": why} for e, why in items])
        return
    from evollm.render.lineage import reading_list

    _console().print(reading_list(items, target))


def _why(kb, entry_id: str, order: list[str]) -> str:
    """Why an entry is on a reading list: what a later entry on the list took from it."""
    later = set(order[order.index(entry_id) + 1:])
    for child, link in kb.children(entry_id):
        if child in later and link.note:
            return f"{kb.entries[child].name} {link.relation} it: {link.note}"
    entry = kb.entries[entry_id]
    return entry.key_ideas[0] if entry.key_ideas else ""


# --- demos ----------------------------------------------------------------------------------


@command()
def demos(as_json: JsonOption = False) -> None:
    """The registered reference implementations."""
    from evollm.demos.registry import DEMOS

    if as_json:
        _print_json([
            {"name": s.name, "entry": s.entry, "shows": s.shows, "checks": s.checks,
             "typical_seconds": s.typical_seconds, "quick_seconds": s.quick_seconds}
            for s in DEMOS.values()
        ])
        return
    from evollm.render.demo import demos_table

    _console().print(demos_table(DEMOS.values()))


@command()
def demo(
    name: Annotated[str, typer.Argument(metavar="NAME", help="A demo name; see evollm demos.")],
    quick: Annotated[bool, typer.Option("--quick", help="A short run (under 5 s) with looser budgets.")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    settings: Annotated[Optional[list[str]], typer.Option("--set", help="Override a setting: KEY=VALUE (repeatable; a list as 2,4,8). See --settings.")] = None,
    list_settings: Annotated[bool, typer.Option("--settings", help="List the demo's settings (type, default, --quick value, range, meaning) and exit.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Run a reference implementation and check the paper's claim. Exit 1 if a check fails.

    Exit 2 if --seed or a --set value is not accepted; --settings lists what is.
    """
    if list_settings:
        from evollm.demos import runner

        rows = runner.settings_rows(name)
        if as_json:
            _print_json(rows)
            return
        from evollm.render.demo import settings_table

        _console().print(settings_table(name, rows))
        return
    _run_demo(name, seed=seed, quick=quick, overrides=settings or [], as_json=as_json)


def _run_demo(name: str, *, seed: int, quick: bool, overrides: list[str], as_json: bool) -> None:
    from evollm.demos import runner

    spec = runner.spec_of(name)
    err = _console(stderr=True)
    if as_json or not err.is_terminal:  # no progress bar in a pipe: it would leave a blank line
        spec, result, seconds = runner.run_demo(name, seed=seed, quick=quick, overrides=overrides)
    else:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                      console=err, transient=True) as bar:
            task = bar.add_task(f"running {spec.name}{' (quick)' if quick else ''}", total=1.0)
            spec, result, seconds = runner.run_demo(
                name, seed=seed, quick=quick, overrides=overrides,
                progress=lambda fraction: bar.update(task, completed=min(1.0, max(0.0, fraction))),
            )
    if as_json:
        _print_json(runner.result_json(spec, result, seconds))
    else:
        from evollm.render.demo import demo_report

        _console().print(demo_report(spec, result, seconds))
    if not result.passed:
        raise typer.Exit(1)


# --- the app --------------------------------------------------------------------------------


def _version(value: bool) -> None:
    if value:
        print(f"evollm {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Read every entry file afresh (also: EVOLLM_NO_CACHE=1).")
    ] = False,
) -> None:
    """Explore how large language models evolved: timelines, paper cards, family trees, demos."""
    if no_cache:
        import os

        os.environ["EVOLLM_NO_CACHE"] = "1"  # read by evollm.cache.enabled() in this process only


def main() -> None:
    """The console script. Ends with os._exit: a process that loaded 10,000 entries would
    otherwise spend tens of milliseconds freeing them one by one on the way out."""
    import os

    try:
        app()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if isinstance(exc.code, str):
            sys.stderr.write(exc.code + "\n")
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError, OSError):
            pass  # a closed pipe (evollm timeline | head -1) ends quietly
    os._exit(code)


from evollm import cli_sources  # noqa: E402,F401  (registers add, check)

from evollm import cli_export  # noqa: E402,F401  (registers export, stats, plot)
