"""The lineage commands: tree, path, diff, uses, learn."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from evollm.cli.common import (
    DataOption,
    JsonOption,
    TreeFormat,
    commands_of,
    fail,
    group,
    load,
    output,
    resolve,
)

app = group()
command = commands_of(app)


# --- lineage ------------------------------------------------------------------------------


@command()
def tree(
    entry_id: Annotated[Optional[str], typer.Argument(metavar="ID", help="Draw this entry's descendants.")] = None,
    family: Annotated[Optional[str], typer.Option("--family", help="Draw a whole family from its oldest member.")] = None,
    ancestors: Annotated[bool, typer.Option("--ancestors", help="Draw ancestors instead of descendants.")] = False,
    depth: Annotated[Optional[int], typer.Option("--depth", min=1, help="At most this many generations.")] = None,
    everything: Annotated[bool, typer.Option("--all", help="The whole knowledge base, from every root.")] = False,
    fmt: Annotated[TreeFormat, typer.Option("--format", case_sensitive=False,
                                            help="text, mermaid (flowchart) or dot (Graphviz).")] = TreeFormat.text,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Family trees and lineage: an entry's descendants (or ancestors), a family, or everything."""
    from evollm import graph, query
    from evollm.errors import UsageError

    if sum(x is not None and x is not False for x in (entry_id, family, everything or None)) != 1:
        raise UsageError("give one of: an ID, --family NAME or --all (e.g. evollm tree --family bert)")
    fmt = fmt.value
    kb = load(data)
    if everything:
        forest = graph.whole_forest(kb)
        title = "Every entry, from its roots"
    elif family is not None:
        name = query.check_family(kb, family)
        forest = graph.family_forest(kb, name)
        title = f"The {name} family"
    else:
        root = resolve(kb, entry_id)
        forest = [graph.build_tree(kb, root.id, upward=ancestors, depth=depth)]
        title = f"{'Ancestors' if ancestors else 'Descendants'} of {root.name}"
    answer = graph.Forest(forest, title)
    if as_json:
        output().json(answer)
        return
    if fmt != "text":
        from evollm.export import graphs

        output().write(graphs.GRAPH_FORMATS[fmt](kb, forest, title))
        return
    from evollm.render.tree import lineage_tree

    output().emit(lineage_tree(forest, kb.entries, title))


@command()
def path(
    start: Annotated[str, typer.Argument(metavar="A", help="The older entry.")],
    goal: Annotated[str, typer.Argument(metavar="B", help="The newer entry.")],
    every: Annotated[bool, typer.Option("--all", help="Every chain, shortest first.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="With --all: at most this many chains.")] = 20,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """The chain of lineage from A to B, each step with its relation and note."""
    from evollm import graph
    from evollm.errors import NotFound, UsageError

    if every and limit > graph.MAX_PATHS:
        raise UsageError(f"--limit is at most {graph.MAX_PATHS} chains with --all, got {limit}")
    kb = load(data)
    a, b = resolve(kb, start), resolve(kb, goal)
    if every:
        chains, more = graph.all_paths(kb, a.id, b.id, limit)
    else:
        shortest = graph.shortest_path(kb, a.id, b.id)
        chains, more = ([shortest] if shortest else []), False
    if not chains:
        hint = f"; {b.id} is an ancestor of {a.id}: try evollm path {b.id} {a.id}" if graph.shortest_path(kb, b.id, a.id) else ""
        raise NotFound(f"no lineage leads from {a.id} to {b.id}{hint}")
    answer = graph.Paths([graph.chain_steps(kb, chain) for chain in chains], more)
    if as_json:
        output().json(answer)
        return
    from evollm.render.lineage import path_steps

    output().emit(path_steps(kb.entries, answer.steps, answer.more, width=output().width))


@command()
def diff(
    first: Annotated[str, typer.Argument(metavar="A")],
    second: Annotated[str, typer.Argument(metavar="B")],
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Two entries side by side, what B adds or drops, and their nearest common ancestor."""
    from evollm import graph

    kb = load(data)
    answer = graph.diff(kb, resolve(kb, first), resolve(kb, second))
    if as_json:
        output().json(answer)
        return
    from evollm.render.lineage import diff_table

    names = lambda ids: [kb.entries[i].name for i in ids]  # noqa: E731
    output().console().print(diff_table(answer.a, answer.b, kb.entries.get(answer.common_ancestor), answer.adds,
                                        answer.drops, names))


@command()
def uses(
    technique: Annotated[str, typer.Argument(metavar="TECHNIQUE", help="A technique entry: rope, gqa, swiglu, moe, ...")],
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """The entries that adopted a technique, in date order, the first adopter marked. Exit 1 if none."""
    from evollm import graph

    kb = load(data)
    answer = graph.adoption(kb, resolve(kb, technique))
    if as_json:
        output().json(answer)
    elif not answer.adopters:
        output().note(f"No entry lists {answer.technique.id} in its uses.")
    if not answer.adopters:
        raise fail()  # nothing matched
    if as_json:
        return
    from evollm.render.lineage import adopters_table

    output().console().print(adopters_table(answer.technique, answer.adopters))


@command()
def learn(
    entry_id: Annotated[str, typer.Argument(metavar="ID")],
    most: Annotated[Optional[int], typer.Option("--max", min=1, help="At most this many entries (the nearest ancestors).")] = None,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """A reading order for ID: its ancestors, each before what builds on it, then ID itself."""
    from evollm import graph

    kb = load(data)
    answer = graph.reading_list(kb, resolve(kb, entry_id), most)
    if as_json:
        output().json(answer)
        return
    from evollm.render.lineage import reading_list

    output().console().print(reading_list(answer.items, answer.target))
