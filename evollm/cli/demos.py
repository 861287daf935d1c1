"""The demo commands: demos (the list) and demo (run one)."""

from __future__ import annotations

import sys

from typing import Annotated, Optional

import typer

from evollm.cli.common import (
    JsonOption,
    commands_of,
    fail,
    group,
    load,
    output,
)

app = group()
command = commands_of(app)


# --- demos ----------------------------------------------------------------------------------


@command()
def demos(as_json: JsonOption = False) -> None:
    """The registered reference implementations."""
    from evollm.demos.registry import DEMOS

    if as_json:
        output().json([spec.to_json() for spec in DEMOS.values()])
        return
    from evollm.render.demo import demos_table

    output().console().print(demos_table(DEMOS.values()))


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
    name = _demo_name(name)
    if list_settings:
        from evollm.demos import runner

        rows = runner.settings_rows(name)
        if as_json:
            output().json(rows)
            return
        from evollm.render.demo import settings_table

        output().console().print(settings_table(name, rows))
        return
    run_demo(name, seed=seed, quick=quick, overrides=settings or [], as_json=as_json)


def _demo_name(name: str) -> str:
    """A demo's registered name from its name in any case, or from an entry's id or alias (`demo mqa`,
    as `show mqa --run-demo` does); the registry's NotFound (with "did you mean") otherwise."""
    from evollm.demos import runner
    from evollm.errors import EvollmError, NotFound

    try:
        return runner.spec_of(name).name
    except NotFound:
        try:
            entry = load(None).resolve(name)
        except EvollmError:
            entry = None
        if entry is not None and entry.demo:
            return entry.demo
        raise


def run_demo(name: str, *, seed: int, quick: bool, overrides: list[str], as_json: bool) -> None:
    from evollm.demos import runner

    spec = runner.spec_of(name)
    err = output().console(stderr=True)
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
        output().json(runner.result_json(spec, result, seconds))
    else:
        from evollm.render.demo import demo_report

        output().console().print(demo_report(spec, result, seconds))
    if not result.passed:
        raise fail()


def main(module_name: str, argv: list[str] | None = None) -> None:
    """`python -m evollm.demos.NAME [--quick] [--seed N] [--set k=v] [--json]`: the same as
    `evollm demo NAME ...`, through the same command (error messages, exit codes, rendering)."""
    name = module_name.rsplit(".", 1)[-1].replace("_", "-")
    app(["demo", name, *(sys.argv[1:] if argv is None else argv)])
