"""The commands that reach the network: `add --arxiv` and `check arxiv|links`.

Like every command module: parse, call one function of `evollm.sources`, render. `arxiv`, `requests` and `httpx`
are imported only when these commands run (the read commands never pay for them).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

from evollm.cli.common import DataOption, JsonOption, commands_of, fail, group, load, output, resolve

app = group()
command = commands_of(app)
check_app = typer.Typer(
    name="check",
    help="Check the knowledge base against arXiv, and its links against the web.",
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(check_app, name="check")
check_command = commands_of(check_app)


@contextmanager
def _progress(description: str):
    """A transient progress bar on stderr; yields a (done, total) callback.

    Only on a terminal: piped or logged, rich would leave an empty line behind.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = output().console(stderr=True)
    if not console.is_terminal:  # not even a disabled bar: some rich versions leave a blank line
        yield lambda done, total: None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task(description, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


# --- add --------------------------------------------------------------------------------------


@command()
def add(
    arxiv_id: Annotated[Optional[str], typer.Option(
        "--arxiv", metavar="ID",
        help="The paper: 2305.18290, 2305.18290v2, arXiv:2305.18290 or an arxiv.org abs/pdf URL.")] = None,
    entry_id: Annotated[Optional[str], typer.Option(
        "--id", metavar="SLUG", help="The new entry's id (default: from the title's short name).")] = None,
    kind: Annotated[str, typer.Option("--kind", help="model, method, architecture, system, dataset, ...")] = "method",
    force: Annotated[bool, typer.Option(
        "--force", help="Add even if the id or the arXiv id is already in the knowledge base.")] = False,
    data: Annotated[Optional[Path], typer.Option(
        "--data", envvar="EVOLLM_DATA", show_default=False,
        help="Write into this folder (default: your own entries' folder).")] = None,
) -> None:
    """Draft a new entry from an arXiv paper (status: draft; problem and solution are yours to write).

    The endpoint is $EVOLLM_ARXIV_API (default: arXiv's export API).
    """
    from evollm.errors import UsageError
    from evollm.sources import drafts

    if arxiv_id is None:
        raise UsageError("give the paper with --arxiv ID, e.g. evollm add --arxiv 2305.18290")
    from evollm.text import visible

    path, paper = drafts.add_from_arxiv(arxiv_id, entry_id=entry_id, data=data, kind=kind, force=force)
    output().write(visible(str(path)) + "\n")
    err = output().console(stderr=True)
    err.print(visible(f"Drafted {paper.title!r} ({paper.arxiv_id}) as {path.stem}."), markup=False, soft_wrap=True)
    err.print("Next: write problem and solution, replace the labs placeholder, delete `status: draft`; "
              "then run evollm validate.", markup=False, soft_wrap=True)


# --- check arxiv ------------------------------------------------------------------------------


@check_command("arxiv")
def check_arxiv(
    ids: Annotated[Optional[list[str]], typer.Argument(
        metavar="IDS", help="Only these entries (ids, aliases or arXiv ids); default: every one with an arXiv id.",
        show_default=False)] = None,
    fix: Annotated[bool, typer.Option(
        "--fix", help="Rewrite titles and authors to arXiv's, and show the diff.")] = False,
    refresh: Annotated[bool, typer.Option("--refresh", help="Ask arXiv again even for answers in the cache.")] = False,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compare entries with arXiv's title, first-version month and authors. Exit 1 on any mismatch.

    One request per 100 ids, at most one every 3 seconds; answers are cached for 30 days.
    """
    from evollm.sources import compare

    from evollm.text import counted, visible

    kb = load(data, need_entries=False)
    entries = compare.select_entries(kb, ids or [])
    err = output().console(stderr=True)
    if not entries:
        err.print("No entry has an arXiv id.", markup=False)
        return
    with _progress("asking arXiv") as progress:
        report = compare.check_entries(entries, refresh=refresh, progress=progress)
    if fix:
        compare.apply_fixes(kb, report, data)
    remaining = report.remaining
    if as_json:
        output().json(report)
    else:
        for _, diff, _ in report.fixed:
            output().write(visible(diff, keep_newlines=True))
        if remaining:
            from evollm.render.sources import mismatch_table

            output().console().print(mismatch_table(remaining))
    answers = report.answers
    source = f"{answers.requests} request{'s' if answers.requests != 1 else ''}"
    if answers.cached:
        source += f", {answers.cached} answer{'s' if answers.cached != 1 else ''} from the cache"
    if report.fixed:
        err.print(f"Fixed {counted(len(report.fixed_fields), 'field')} in {counted(len(report.fixed), 'file')}.",
                  markup=False)
        if report.local_corrections:
            err.print(visible(f"{len(report.local_corrections)} of them written as local corrections in "
                              f"{report.local_corrections[0].parent} (the entries they correct were left as they are)."),
                      markup=False, soft_wrap=True)
    entries_off = len({m.entry_id for m in remaining})
    err.print(f"{counted(len(entries), 'entry', 'entries')} checked against arXiv ({source}): "
              + (f"{counted(len(remaining), 'mismatch', 'mismatches')} in {counted(entries_off, 'entry', 'entries')}."
                 if remaining else "no mismatch."),
              markup=False, soft_wrap=True)
    if answers.cached:
        err.print(f"The oldest cached answer was fetched {answers.oldest}; --refresh asks arXiv again.",
                  markup=False, soft_wrap=True)
    if remaining:
        if not fix and any(m.fixable for m in remaining):
            err.print("evollm check arxiv --fix rewrites titles and authors.", markup=False)
        raise fail()


# --- check links ------------------------------------------------------------------------------


@check_command("links")
def check_links(
    ids: Annotated[Optional[list[str]], typer.Argument(
        metavar="IDS", help="Only these entries; default: all.", show_default=False)] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="At most this many requests at once.")] = 8,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds for each request in all (connecting and the answer).")] = 10.0,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check every URL of the knowledge base; list dead, redirected and blocked links. Exit 1 if any is dead."""
    from evollm.errors import UsageError
    from evollm.sources import links

    if not timeout > 0:
        raise UsageError(f"--timeout must be more than 0 seconds, got {timeout}")
    kb = load(data, need_entries=False)
    entries = [resolve(kb, i) for i in dict.fromkeys(ids)] if ids else list(kb)
    with _progress("checking links") as progress:
        findings = links.check_entries(entries, concurrency=concurrency, timeout=timeout, progress=progress)
    if as_json:
        output().json([finding.to_json() for finding in findings])
    problems = [f for f in findings if f.link.state != "ok"]
    if problems and not as_json:
        from evollm.render.sources import links_table

        output().console().print(links_table(problems))
    counts = {state: sum(f.link.state == state for f in findings) for state in ("dead", "redirected", "blocked")}
    distinct = len({f.link.url for f in findings})
    output().console(stderr=True).print(
        f"{distinct} links of {len(entries)} entries checked: "
        + ", ".join(f"{n} {state}" for state, n in counts.items()) + ".", markup=False, soft_wrap=True)
    if counts["dead"]:
        raise fail()
