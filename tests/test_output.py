"""The output object (terminal or pipe, built once per run), the exit codes, and the option checks
Typer now does (issue 20)."""

import ast
import io
from pathlib import Path

import pytest

from conftest import MINI

CLI = Path(__file__).resolve().parent.parent / "evollm" / "cli"


def _run(cli, output, *args):
    return cli(*args, "--data", MINI, obj=output)


def test_the_same_command_renders_for_a_terminal_and_for_a_pipe(cli):
    from evollm.cli.common import Output

    pipe = _run(cli, Output(terminal=False, width=40), "timeline", "2018")
    terminal = _run(cli, Output(terminal=True, width=40, colour=True), "timeline", "2018")
    assert pipe.exit_code == terminal.exit_code == 0, pipe.output + terminal.output
    assert "\x1b[" not in pipe.stdout and "Enc-1" in pipe.stdout
    assert "\x1b[" in terminal.stdout and "Enc-1" in terminal.stdout  # colour: only on a terminal
    assert all(len(line) <= 40 for line in terminal.stdout.splitlines() if "\x1b" not in line)


def test_the_output_object_uses_its_width(cli):
    from evollm.cli.common import Output

    narrow = _run(cli, Output(terminal=True, width=50, colour=False), "show", "enc")
    wide = _run(cli, Output(terminal=True, width=120, colour=False), "show", "enc")
    assert max(map(len, narrow.stdout.splitlines())) <= 50 < max(map(len, wide.stdout.splitlines()))


def test_output_writes_where_it_is_told():
    from evollm.cli.common import Output

    out, err = io.StringIO(), io.StringIO()
    output = Output(terminal=False, stdout=out, stderr=err)
    output.json({"a": [1]})
    output.note("[bold]x[/bold]")  # data, never markup
    assert out.getvalue() == '{\n  "a": [\n    1\n  ]\n}\n'
    assert err.getvalue() == "[bold]x[/bold]\n"


def test_exit_codes_are_unique_and_named():
    from evollm.errors import ExitCode

    assert ExitCode.FAILED == 1 and ExitCode.USAGE == 2
    assert len({int(code) for code in ExitCode}) == len(ExitCode)
    assert "NOT_FOUND" not in ExitCode.__members__  # code 1 is named for what it means: FAILED


def test_readme_lists_every_exit_code():
    from evollm.errors import ExitCode

    readme = (CLI.parent.parent / "README.md").read_text(encoding="utf-8")
    for code in ExitCode:
        assert f"| {int(code)} | `{code.name}` |" in readme, code.name


def test_no_command_exits_with_a_bare_number():
    for path in CLI.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "Exit":
                assert not any(isinstance(arg, ast.Constant) for arg in node.args), \
                    f"{path.name}:{node.lineno}: typer.Exit with a bare number; use ExitCode"


def test_an_existing_export_target_and_an_unwritable_one_have_their_codes(cli, tmp_path):
    target = tmp_path / "out.json"
    target.write_text("mine", encoding="utf-8")
    result = cli("export", "-o", target, "--data", MINI)
    assert result.exit_code == 6, result.output  # FILE_EXISTS
    (tmp_path / "link").symlink_to(target)
    result = cli("export", "--format", "json", "-o", tmp_path / "link", "--force", "--data", MINI)
    assert result.exit_code == 5, result.output  # CANNOT_WRITE: a link is never replaced
    assert target.read_text(encoding="utf-8") == "mine"


@pytest.mark.parametrize("args", [
    ["tree", "attn", "--depth", "0"], ["path", "attn", "enc", "--limit", "0"], ["learn", "enc", "--max", "0"],
    ["stats", "--top", "0"], ["search", "enc", "--limit", "0"], ["plot", "params", "--height", "9"],
    ["tree", "attn", "--format", "svg"], ["export", "--format", "pdf"], ["show", "attn", "--open", "home"],
    ["plot", "sizes"],
])
def test_ranges_and_choices_are_checked_by_typer(cli, args):
    result = cli(*args, "--data", MINI)
    assert result.exit_code == 2, result.output
    assert "Invalid value for" in result.stderr  # Typer's message: the check is in the declaration


def test_choices_ignore_case(cli):
    result = cli("tree", "attn", "--format", "MERMAID", "--data", MINI)
    assert result.exit_code == 0 and "\nflowchart TB\n" in result.stdout


@pytest.mark.parametrize("kind", ["paper", "code"])
def test_show_open_every_link_kind_and_no_browser_prints_the_url(cli, monkeypatch, kind):
    monkeypatch.setattr("webbrowser.open", lambda url: False)  # no browser can be opened
    result = cli("show", "attn", "--open", kind, "--data", MINI)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().startswith("https://") and "no browser could be opened" in result.stderr
    assert "opened" not in result.stderr.replace("could be opened", "")


def test_show_open_says_opened_when_a_browser_opened(cli, monkeypatch):
    monkeypatch.setattr("webbrowser.open", lambda url: True)
    result = cli("show", "attn", "--open", "code", "--data", MINI)
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr.strip() == "opened https://example.org/attn"
