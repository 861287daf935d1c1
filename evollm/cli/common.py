"""What every command module shares: options, the error boundary, loading, and the output object.

Every command body runs inside `guard`, the one place where evollm's typed errors become a message
on stderr and a named exit code (so `CliRunner` tests see the same codes as users). Command modules
import this module and nothing else of `evollm.cli`.
"""

from __future__ import annotations

import functools
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional, TextIO

import typer

from evollm.errors import EvollmError, ExitCode, InvalidKnowledgeBase
from evollm.vocab import LINK_KINDS

DataOption = Annotated[
    Optional[Path],
    typer.Option("--data", envvar="EVOLLM_DATA", help="Use only the entries in this folder.", show_default=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
LabOption = Annotated[Optional[str], typer.Option("--lab", help="Only entries with a lab containing this text.")]
KindOption = Annotated[Optional[str], typer.Option("--kind", help="Only entries of this kind (model, method, ...).")]
TopicOption = Annotated[Optional[str], typer.Option("--topic", help="Only entries with this topic.")]
FamilyOption = Annotated[Optional[str], typer.Option("--family", help="Only entries of this family (GPT, BERT, ...).")]
YearOption = Annotated[
    Optional[str], typer.Option("--year", help="Only entries of this year (2019) or range (2017..2020, 2017-2020, 2024.., ..2018).",
                 show_default=False)
]


# Choices Typer checks and lists in --help (an Enum works with every Typer this package allows).
TreeFormat = Enum("TreeFormat", {name: name for name in ("text", "mermaid", "dot")}, type=str)
ExportFormat = Enum("ExportFormat", {name: name for name in ("json", "yaml", "csv", "bibtex", "markdown", "html")},
                    type=str)
LinkKind = Enum("LinkKind", {name: name for name in LINK_KINDS}, type=str)
PlotName = Enum("PlotName", {name: name for name in ("params", "context", "tokens", "compute", "count")}, type=str)


def group() -> typer.Typer:
    """A Typer for one module's commands, merged into the root app by an unnamed `add_typer`."""
    return typer.Typer(rich_markup_mode=None, add_completion=False, pretty_exceptions_enable=False,
                       context_settings={"help_option_names": ["-h", "--help"]})


# --- the output object ----------------------------------------------------------------------


class Output:
    """Where a command's answer goes, and what that place is: a terminal (rich, colour, width) or a
    pipe (plain text). Built once per run (`output()`); tests build one for either place."""

    def __init__(self, *, terminal: bool, width: int = 80, height: int = 24, colour: bool | None = None,
                 stdout: TextIO | None = None, stderr: TextIO | None = None) -> None:
        self.terminal = terminal
        self.width = width
        self.height = height
        self.colour = terminal if colour is None else colour
        self._stdout = stdout
        self._stderr = stderr

    @classmethod
    def detect(cls) -> Output:
        """The output of this process: stdout's kind, the terminal's size, NO_COLOR and FORCE_COLOR."""
        import os
        import shutil

        terminal = sys.stdout.isatty() or bool(os.environ.get("FORCE_COLOR"))
        size = shutil.get_terminal_size((80, 24))
        return cls(terminal=terminal, width=size.columns, height=size.lines,
                   colour=terminal and not os.environ.get("NO_COLOR"))

    @property
    def stdout(self) -> TextIO:
        return self._stdout or sys.stdout  # looked up late: CliRunner swaps sys.stdout per call

    @property
    def stderr(self) -> TextIO:
        return self._stderr or sys.stderr

    def console(self, *, stderr: bool = False):
        """A rich console on stdout (or stderr) that knows this output's terminal facts."""
        from rich.console import Console

        if stderr:
            return Console(file=self.stderr, highlight=False)
        return Console(file=self.stdout, highlight=False, width=self.width, force_terminal=self.terminal,
                       no_color=not self.colour, color_system="auto" if self.colour else None)

    def write(self, text: str) -> None:
        """Text written as it is (charts, graph formats, exports)."""
        self.stdout.write(text)

    def emit(self, renderable) -> None:
        """A renderer's answer: through rich on a terminal, as plain text when piped."""
        from evollm.render.styled import Styled

        if isinstance(renderable, Styled) and not self.terminal:
            text = renderable.plain()
            self.stdout.write(text + "\n" if text else "")
        else:
            self.console().print(renderable, crop=True)

    def json(self, data: Any) -> None:
        """`data` (or a view's `to_json()`) as indented JSON on stdout."""
        if hasattr(data, "to_json"):
            data = data.to_json()
        self.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")

    def note(self, message: str, *, style: str | None = None) -> None:
        """A line of talk on stderr; `message` is data (shown, never read as markup)."""
        self.console(stderr=True).print(message, markup=False, soft_wrap=True, style=style)


_RUN: list[Output] = []  # this run's output object, set by the root callback


def begin(given: Output | None) -> Output:
    """Start a run with `given` (a test's, through `CliRunner.invoke(obj=...)`) or the detected output."""
    _RUN[:] = [given if isinstance(given, Output) else Output.detect()]
    return _RUN[0]


def output() -> Output:
    """This run's output object (detected if no run began: a command called as a function)."""
    return _RUN[0] if _RUN else begin(None)


# --- the error boundary ---------------------------------------------------------------------


def guard(func):
    """Run a command; turn an EvollmError into its message on stderr and its exit code."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except EvollmError as exc:
            from evollm.text import visible

            # Messages quote file names, URLs and answers from the network: shown, never obeyed.
            out = output()
            if isinstance(exc, InvalidKnowledgeBase):
                for problem in exc.problems:
                    out.note(visible(str(problem)))
            out.note(f"Error: {visible(exc.message)}")
            raise typer.Exit(int(exc.exit_code)) from None

    return wrapper


def fail() -> typer.Exit:
    """The exit of a command whose answer is 'no' (a failed check, a dead link): code FAILED."""
    return typer.Exit(int(ExitCode.FAILED))


def commands_of(app: typer.Typer):
    """`app.command` with evollm's error boundary."""
    return lambda *args, **kwargs: (lambda func: app.command(*args, **kwargs)(guard(func)))


# --- loading --------------------------------------------------------------------------------

_KEPT: list = []  # the last knowledge base loaded, kept until the process ends (see load)


def load(data: Path | None, *, use_cache: bool | None = None, need_entries: bool = True):
    """The knowledge base. `need_entries`: a --data folder with no entry is an error (exit 1) that says
    so, and points to DIR/papers when DIR holds one (add and check take an empty folder)."""
    from evollm.kb import data_dirs, load_knowledge_base

    kb = load_knowledge_base(data, use_cache=use_cache)
    if need_entries and data is not None and len(kb) == 0:
        from evollm.errors import NotFound
        from evollm.text import visible

        folder = data_dirs(data)[0]
        if (folder / "papers").is_dir():
            raise NotFound(visible(f"no entry files in {folder}; did you mean --data {folder / 'papers'}?"))
        raise NotFound(visible(f"the data folder {folder} is empty: it holds no entry files (*.yaml)"))
    # Held until the process ends (main leaves through os._exit): freed when the command
    # returned, 10,000 entries would cost ~10 ms of deallocation that nobody waits for. Only the
    # last one: tests run many commands in one process.
    _KEPT[:] = [kb]
    return kb


def resolve(kb, text: str):
    """The entry an id argument names; not found, the best search matches are offered."""
    from evollm.query import resolve as resolve_entry

    return resolve_entry(kb, text)


def filtered(data, years, lab, kind, topic, family):
    """The knowledge base and its entries passing the timeline's filters, in date order.
    The year range is checked before the knowledge base is read."""
    from evollm import query

    span = query.parse_years(years)
    kb = load(data)
    return kb, query.filter_entries(kb, years=span, lab=lab, kind=kind, topic=topic, family=family)
