"""The read commands: timeline, show, search, validate, stats."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from evollm.cli.common import (
    DataOption,
    FamilyOption,
    JsonOption,
    KindOption,
    LabOption,
    LinkKind,
    TopicOption,
    YearOption,
    commands_of,
    fail,
    filtered,
    group,
    load,
    output,
    resolve,
)

app = group()
command = commands_of(app)


# --- reading --------------------------------------------------------------------------------


@command()
def timeline(
    years: Annotated[Optional[str], typer.Argument(
        metavar="YEARS", help="A year (2019) or a range (2017..2020, 2017-2020, 2024.., ..2018); none for an overview.",
        show_default=False)] = None,
    year: YearOption = None,
    lab: LabOption = None,
    kind: KindOption = None,
    topic: TopicOption = None,
    family: FamilyOption = None,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Papers and models year by year, sorted by date."""
    from evollm import query
    from evollm.errors import UsageError

    if year is not None and years is not None and year != years:
        raise UsageError(f"give the years once: {years!r} or --year {year!r}")
    years = years if years is not None else year

    kb, entries = filtered(data, years, lab, kind, topic, family)
    narrowed = years is not None or any(v is not None for v in (lab, kind, topic, family))
    if as_json:
        output().json(query.entries_json(entries))
        return
    from evollm.render import timeline as render

    eras = query.load_eras()
    if narrowed:
        output().emit(render.year_tables(entries, eras, width=output().width))
    else:
        output().console().print(render.overview(query.overview_rows(kb, eras)))
        output().console(stderr=True).print("Show one year with: evollm timeline 2019", style="dim")


@command()
def show(
    entry_id: Annotated[str, typer.Argument(metavar="ID", help="An id, alias or loose spelling (GPT2, gpt-2).")],
    open_link: Annotated[Optional[LinkKind], typer.Option(
        "--open", case_sensitive=False, help="Open one of the card's links in the browser.")] = None,
    run_demo: Annotated[bool, typer.Option("--run-demo", help="Run the entry's reference implementation.")] = False,
    quick: Annotated[bool, typer.Option("--quick", help="With --run-demo: the short version.")] = False,
    sources: Annotated[bool, typer.Option("--sources", help="List each number with the page it rests on.")] = False,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """The card of one paper or model: problem, solution, key ideas, size, labs, lineage."""
    from evollm import query
    from evollm.errors import NotFound

    kb = load(data)
    entry = resolve(kb, entry_id)
    if run_demo:
        if not entry.demo:
            with_demo = ", ".join(f"{e.id} ({e.demo})" for e in kb if e.demo) or "none"
            raise NotFound(f"{entry.id} has no demo; entries with one: {with_demo}")
        from evollm.cli.demos import run_demo

        run_demo(entry.demo, seed=0, quick=quick, overrides=[], as_json=as_json)
        return
    if open_link is not None:
        from evollm.text import visible

        kind = open_link.value
        url = entry.links.get(kind)
        if not url:
            has = ", ".join(entry.links) or "none"
            raise NotFound(f"{entry.id} has no {kind} link; its links: {has}")
        import webbrowser

        if webbrowser.open(url):
            output().note(visible(f"opened {url}"))
        else:  # no browser here (a server, a container): the link itself is the answer
            output().write(visible(url) + "\n")
            output().note("no browser could be opened; the link is printed above")
        return
    answer = query.card(kb, entry)
    if as_json:
        output().json(answer)
        return
    from evollm.render.card import card

    output().emit(card(
        entry, parents=answer.parents, children=answer.children, uses=answer.uses,
        adopted_by=answer.adopted_by, influenced=answer.influenced, overridden=answer.local_correction,
        path=answer.path, width=output().width, sources=sources,
    ))


@command()
def search(
    words: Annotated[list[str], typer.Argument(
        metavar="WORDS...", help="Words to look for in names, titles and write-ups (no quotes needed: kv cache).")],
    limit: Annotated[int, typer.Option("--limit", min=1, help="Show at most this many matches.")] = 20,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Ranked matches over names, aliases, arXiv ids, titles, authors, key ideas, problems and solutions. Exit 1 if none."""
    from evollm import query

    text = " ".join(words)
    if not text.strip():
        from evollm.errors import UsageError

        raise UsageError("empty search text; give one or more words, e.g. evollm search attention")
    kb = load(data)
    answer = query.hits(kb, text, limit)
    if as_json:
        output().json(answer)
    elif not answer.ranked:
        output().note(f"No entry matches {text!r}.")
    if not answer.ranked:
        raise fail()  # as grep: nothing matched
    if as_json:
        return
    from evollm.render.timeline import search_hits

    output().emit(search_hits(answer.entries, width=output().width))


@command()
def validate(data: DataOption = None, as_json: JsonOption = False) -> None:
    """Check every entry and every rule across entries; list each problem as path:line. Exit 3 if any."""
    from evollm.errors import InvalidKnowledgeBase
    from evollm.text import counted, visible

    try:
        kb = load(data, use_cache=False)  # always the files themselves: the cache is not evidence
    except InvalidKnowledgeBase as exc:
        if as_json:  # the problems as data on stdout; the boundary still lists them on stderr, exit 3
            output().json({"valid": False, "entries": None, "warnings": [],
                           "problems": [{"path": p.path, "line": p.line, "field": p.field, "message": p.message}
                                        for p in exc.problems]})
        raise
    if as_json:
        output().json({"valid": True, "entries": len(kb), "warnings": [str(w) for w in kb.warnings], "problems": []})
        return
    for warning in kb.warnings:
        output().note(visible(f"warning: {warning}"))  # file names are data
    output().note(f"{counted(len(kb), 'entry', 'entries')}, valid.")


@command()
def stats(
    year: YearOption = None,
    lab: LabOption = None,
    kind: KindOption = None,
    topic: TopicOption = None,
    family: FamilyOption = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Rows of the lab and topic tables (the most frequent).")] = 12,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """How many entries there are by year, kind, architecture, family, lab and topic."""
    from evollm.query import tallies

    _, entries = filtered(data, year, lab, kind, topic, family)
    answer = tallies(entries)
    if as_json:
        output().json(answer)
        return
    from evollm.render.stats import stats_view

    output().console().print(stats_view(answer.entries, answer.counts, top=top, width=output().width))


@command()
def paths(as_json: JsonOption = False) -> None:
    """Where evollm's files live: the shipped entries, your own entries, the cache, the arXiv cache."""
    from evollm.cache import cache_dir
    from evollm.kb import _package_data, user_papers
    from evollm.sources.arxiv import answer_cache_path
    from evollm.text import visible

    rows = {"shipped": _package_data(), "yours": user_papers(), "cache": cache_dir(), "arxiv_cache": answer_cache_path()}
    if as_json:
        output().json({name: str(path) for name, path in rows.items()})
        return
    labels = {"shipped": "shipped entries", "yours": "your entries", "cache": "cache", "arxiv_cache": "arXiv cache"}
    for name, path in rows.items():
        output().write(f"{labels[name]}\t{visible(str(path))}\n" if not output().terminal
                       else f"{labels[name]:<16} {visible(str(path))}\n")
