"""The evollm command line: the root app and `main`. Each command group lives in its own module
(read, browse, lineage, export, sources, demos), merged here by an unnamed `add_typer`, so the commands stay
top-level; those modules import `evollm.cli.common`, never this module."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from evollm import __version__
from evollm.cli import browse, demos, export, lineage, read, sources
from evollm.cli.common import begin
from evollm.errors import ExitCode

app = typer.Typer(
    name="evollm",
    help="Explore how large language models evolved: timelines, paper cards, family trees, demos.",
    invoke_without_command=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
for _group in (read, browse, lineage, demos, sources, export):
    app.add_typer(_group.app)


def _version(value: bool) -> None:
    if value:
        print(f"evollm {__version__}")
        raise typer.Exit(int(ExitCode.OK))


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Read every entry file afresh (also: EVOLLM_NO_CACHE=1).")
    ] = False,
) -> None:
    """Explore how large language models evolved: timelines, paper cards, family trees, demos."""
    if ctx.invoked_subcommand is None and not ctx.resilient_parsing:  # plain `evollm`: the help, exit 0
        sys.stdout.write(ctx.get_help() + "\n")
        raise typer.Exit(int(ExitCode.OK))
    ctx.obj = begin(ctx.obj)  # built once per run; a test may hand in its own (CliRunner.invoke(obj=...))
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
