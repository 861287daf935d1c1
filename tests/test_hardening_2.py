"""Hardening II (issue 18): text from entries, file names and the network is shown, never acted
on; files are written only where they should be; network reads and queries are bounded.

Each test names the finding it covers (#1 to #21)."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from conftest import MINI
from test_hardening import entry


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# --- #3: control and bidi characters are refused by the schema ----------------------------------


@pytest.mark.parametrize("field, value, where", [
    ("name", r'"Evil\e]52;c;cHduZWQ=\a"', "x.yaml:2: name: holds a control character (U+001B)"),
    ("title", r'"clear\e[2J"', "x.yaml:3: title: holds a control character (U+001B)"),
    ("labs", r'["ok", "bell\a"]', "x.yaml:5: labs[1]: holds a control character (U+0007)"),
    ("problem", r'"nul\0here"', "x.yaml:7: problem: holds a control character (U+0000)"),
    ("solution", r'"csi\x9b2J"', "x.yaml:8: solution: holds a control character (U+009B)"),
    ("name", '"gnp\u202eexe.txt"', "x.yaml:2: name: holds a bidirectional override (U+202E)"),
    ("family", '"a\u2066b"', "x.yaml:9: family: holds a bidirectional override (U+2066)"),
    ("name", r'"two\nlines"', "x.yaml:2: name: holds a line break or tab (U+000A)"),
    ("links", r'{paper: "https://example.org/\e[8m"}', "x.yaml:9: links.paper: holds a control character (U+001B)"),
    ("lineage", r'[{id: y, relation: extends, note: "\e[8mhidden"}]',
     "x.yaml:9: lineage[0].note: holds a control character (U+001B)"),
])
def test_control_and_bidi_characters_are_refused(cli, tmp_path, field, value, where):
    write(tmp_path, "x.yaml", entry(**{field: value}))
    result = cli("validate", "--data", tmp_path)
    assert result.exit_code == 3, result.output
    assert where in result.stderr, result.stderr
    assert "\x1b" not in result.output and "\x07" not in result.output


def _string_slots(annotation, metadata=()):
    """(its pattern or None, None) for every str an annotation can hold; (None, model) for a
    model it holds."""
    from typing import Annotated, Literal, get_args, get_origin

    from pydantic import BaseModel
    from pydantic.fields import FieldInfo

    origin = get_origin(annotation)
    if origin is Annotated:
        base, *extra = get_args(annotation)
        yield from _string_slots(base, (*metadata, *extra))
    elif annotation is str:
        found = [m for item in metadata for m in ([item, *item.metadata] if isinstance(item, FieldInfo) else [item])]
        yield next((m.pattern for m in found if getattr(m, "pattern", None)), None), None
    elif origin is Literal:
        return
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield None, annotation
    else:
        for arg in get_args(annotation):
            yield from _string_slots(arg)


def test_every_string_field_of_the_schema_refuses_control_characters():
    """A field added later with a plain `str` fails here: give it Short, Text, HttpUrl or Slug."""
    from evollm.models import Entry

    import re

    checked_by_a_validator = {("Entry", "date"), ("Entry", "demo")}  # DATE's ASCII pattern; the registry
    probes = ["a\x1bb", "https://a.org/\x1b", "a\u202eb", "a\x9bb", "a\x07", "cs.CL\x00"]
    todo, seen, bare = [Entry], set(), []
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, info in model.model_fields.items():
            for pattern, nested in _string_slots(info.annotation, tuple(info.metadata)):
                if nested is not None:
                    todo.append(nested)
                elif (model.__name__, name) not in checked_by_a_validator and (
                        pattern is None or any(re.search(pattern, probe) for probe in probes)):
                    bare.append(f"{model.__name__}.{name}")
    assert not bare, f"string fields without a pattern refusing control characters: {bare}"


def test_prose_may_hold_tabs_and_line_breaks(cli, tmp_path):
    write(tmp_path, "x.yaml", entry(problem='"one\\ttab\\nand a line"', key_ideas='["a\\nb"]'))
    assert cli("validate", "--data", tmp_path).exit_code == 0


def test_file_names_with_control_characters_are_echoed_visibly(cli, tmp_path):
    write(tmp_path, "bad\x1b]0;pwned\x07.yaml", "id: x\n")
    result = cli("validate", "--data", tmp_path)
    assert result.exit_code == 3
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "bad\\x1b]0;pwned\\x07.yaml" in result.stderr


# --- #12: ASCII digits only ---------------------------------------------------------------------


@pytest.mark.parametrize("fields, message", [
    ({"date": '"20\u0661\u0669-\u0660\u0662"'}, "x.yaml:4: date: expected YYYY-MM"),
    ({"arxiv": '"\u0661\u0669\u0660\u0662.\u0660\u0660\u0660\u0660\u0661"'}, "x.yaml:9: arxiv: String should match"),
    ({"params": '[{label: a, total: "\u0663\u0664\u0660M"}]'}, "x.yaml:9: params[0].total: expected a number"),
])
def test_non_ascii_digits_are_refused(cli, tmp_path, fields, message):
    write(tmp_path, "x.yaml", entry(**fields))
    result = cli("validate", "--data", tmp_path)
    assert result.exit_code == 3, result.output
    assert message in result.stderr, result.stderr


def test_years_and_arxiv_ids_take_ascii_digits_only(cli):
    from evollm.errors import UsageError
    from evollm.query import parse_years
    from evollm.sources.arxiv import parse_arxiv_id

    with pytest.raises(UsageError):
        parse_years("\u0662\u0660\u0661\u0669")
    with pytest.raises(UsageError):
        parse_arxiv_id("\u0662\u0663\u0660\u0665.\u0661\u0668\u0662\u0669\u0660")


# --- #13: names of every script -----------------------------------------------------------------


def test_names_in_other_scripts_do_not_collide(cli, tmp_path):
    from evollm.kb import normalize

    assert normalize("通义千问") == "通义千问" and normalize("ГигаЧат") == "гигачат"
    assert normalize("ＧＰＴ－２") == normalize("gpt 2") == "gpt2"  # NFKC: full-width forms
    write(tmp_path, "qwen.yaml", entry(id="qwen", name="通义千问", aliases="[通义千问]"))
    write(tmp_path, "giga.yaml", entry(id="giga", name="ГигаЧат", aliases="[ГигаЧат]"))
    result = cli("validate", "--data", tmp_path)
    assert result.exit_code == 0, result.output
    assert json.loads(cli("show", "гигачат", "--json", "--data", tmp_path).stdout)["id"] == "giga"
    assert json.loads(cli("show", "通义千问", "--json", "--data", tmp_path).stdout)["id"] == "qwen"


# --- #18: duplicate keys at every depth ---------------------------------------------------------


@pytest.mark.parametrize("fields, line", [
    ({"links": "{paper: 'https://a.org/1', paper: 'https://a.org/2'}"}, 9),
    ({"params": "[{label: a, total: 1B, total: 2B}]"}, 9),
    ({"lineage": "\n  - id: y\n    relation: extends\n    id: z"}, 12),
])
def test_duplicate_keys_below_the_top_level_are_refused(cli, tmp_path, fields, line):
    write(tmp_path, "x.yaml", entry(**fields))
    result = cli("validate", "--data", tmp_path)
    assert result.exit_code == 3, result.output
    assert f"x.yaml:{line}: field" in result.stderr and "appears twice" in result.stderr


# --- #16: ~nouser -------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["EVOLLM_HOME", "EVOLLM_DATA", "--data"])
def test_a_home_of_no_user_is_a_usage_error(cli, monkeypatch, how):
    args = ["timeline", "--json"]
    if how == "--data":
        args += ["--data", "~no-such-user-evollm/x"]
    else:
        monkeypatch.setenv(how, "~no-such-user-evollm/x")
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert "~no-such-user-evollm/x" in result.stderr and "names no user" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


# --- #8: a symlink loop -------------------------------------------------------------------------


def test_a_symlink_loop_is_the_files_problem(cli, tmp_path):
    kb = tmp_path / "kb"
    shutil.copytree(MINI, kb)
    (kb / "loop.yaml").symlink_to(kb / "loop.yaml")
    (kb / "a.yaml").symlink_to(kb / "b.yaml")
    (kb / "b.yaml").symlink_to(kb / "a.yaml")
    result = cli("validate", "--data", kb)
    assert result.exit_code == 3, result.output
    assert "loop.yaml: cannot read: a loop of symbolic links" in result.stderr
    assert "a.yaml: cannot read: a loop" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


# --- #7: export --force replaces regular files only ---------------------------------------------


def test_export_force_refuses_to_replace_a_symlink(cli, tmp_path):
    precious = write(tmp_path, "precious.txt", "keep me")
    link = tmp_path / "out.json"
    link.symlink_to(precious)
    result = cli("export", "--format", "json", "-o", link, "--force", "--data", MINI)
    assert result.exit_code == 5, result.output  # ExitCode.CANNOT_WRITE (issue 20)
    assert "is a symbolic link; refusing to replace it" in result.stderr
    assert link.is_symlink() and precious.read_text() == "keep me"


def test_export_force_refuses_to_replace_a_device_or_pipe(cli, tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    result = cli("export", "--format", "json", "-o", fifo, "--force", "--data", MINI)
    assert result.exit_code == 5, result.output  # ExitCode.CANNOT_WRITE (issue 20)
    assert "not a regular file; refusing to replace it" in result.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_export_force_still_replaces_a_regular_file(cli, tmp_path):
    target = write(tmp_path, "out.json", "old")
    assert cli("export", "--format", "json", "-o", target, "--force", "--data", MINI).exit_code == 0
    assert json.loads(target.read_text())


# --- #9: the cache is not evidence --------------------------------------------------------------


def _cache_file():
    from evollm import cache

    (path,) = sorted(cache.cache_dir().glob("kb-*.json"))
    return path


@pytest.fixture
def kb_copy(tmp_path, monkeypatch):
    from evollm import cache

    folder = tmp_path / "kb"
    shutil.copytree(MINI, folder)
    monkeypatch.setattr(cache, "RACY_SECONDS", 0.0)
    return folder


def _tamper(path: Path, old: bytes, new: bytes) -> None:
    """Replace bytes of the cache by as many others: its size and layout still look intact."""
    data = path.read_bytes()
    assert old in data and len(old) == len(new)
    path.write_bytes(data.replace(old, new))


def test_validate_reads_the_files_not_the_cache(cli, kb_copy, monkeypatch):
    from evollm import cache

    assert cli("timeline", "--json", "--data", kb_copy).exit_code == 0  # a cache exists

    def forged(*args):  # whatever a cache says, validate must not take it as evidence
        raise AssertionError("validate consulted the cache")

    monkeypatch.setattr(cache, "read", forged)
    result = cli("validate", "--data", kb_copy)
    assert result.exit_code == 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_tampered_cache_body_is_not_served(cli, kb_copy):
    assert cli("timeline", "--json", "--data", kb_copy).exit_code == 0
    path = _cache_file()
    _tamper(path, b'"paper":"https://arxiv.org/abs/1706', b'"paper":"javascript:alert(1)///////')
    result = cli("export", "--format", "markdown", "--data", kb_copy)
    assert "javascript:" not in result.stdout


def test_a_tampered_cache_header_is_not_served(cli, kb_copy):
    assert cli("timeline", "--json", "--data", kb_copy).exit_code == 0
    path = _cache_file()
    _tamper(path, b'"Lab Four"', b'"Evil[12]"')
    result = cli("timeline", "--json", "--data", kb_copy)
    assert result.exit_code == 0 and "Evil" not in result.stdout


def test_the_cache_folder_is_private_and_others_caches_are_ignored(cli, kb_copy, monkeypatch):
    from evollm import cache

    assert cli("timeline", "--json", "--data", kb_copy).exit_code == 0
    assert stat.S_IMODE(os.stat(cache.cache_dir()).st_mode) == 0o700
    path = _cache_file()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    monkeypatch.setattr(os, "getuid", lambda: os.stat(path).st_uid + 1)  # as if someone else wrote it
    assert cache.read([kb_copy], "any", []) is None
    from evollm.kb import load_knowledge_base

    kb = load_knowledge_base(kb_copy)
    assert kb._stored is None  # parsed afresh


def test_a_group_writable_cache_is_ignored(kb_copy):
    from evollm import cache
    from evollm.kb import load_knowledge_base

    load_knowledge_base(kb_copy)
    os.chmod(_cache_file(), 0o666)
    assert load_knowledge_base(kb_copy)._stored is None


def test_markdown_export_escapes_hostile_urls_whatever_their_origin():
    from evollm.export.markdown import to_markdown
    from types import SimpleNamespace

    hostile = SimpleNamespace(
        id="x", name="X", title="T", date="2019-02", year=2019, labs=["L"], kind="model", architecture=None,
        authors=[], arxiv=None, solution="s", links={"paper": "javascript:alert(1)"}, sources=[])
    text = to_markdown([hostile])
    assert "javascript:" not in text
    hostile.links = {"paper": "https://ok.org/a> <img src=x onerror=alert(1)>"}
    assert "<img" not in to_markdown([hostile])


def test_bibtex_keeps_only_plain_web_urls():
    from types import SimpleNamespace

    from evollm.export import bibtex

    hostile = SimpleNamespace(arxiv=None, links={"paper": "javascript:alert(1)"})
    assert bibtex._url(hostile) is None
    hostile.links = {"paper": "https://ok.org/a}b"}
    assert bibtex._url(hostile) == "https://ok.org/a%7Db"


# --- #2 and #3: what entries and answers hold is shown as it is, in every command ---------------

MARKUP = "[/] [link=file:///etc/passwd]click[/link] [bold red]loud[/]"


def hostile_kb(folder: Path, url: str = "https://example.org/a[/]b[link=file:///etc/passwd]") -> Path:
    """Two entries whose every text field holds markup, harmless brackets and a `[/]`."""
    write(folder, "tech.yaml", f"""\
id: tech
name: "Tech [beta] [/]"
title: "A title {MARKUP}"
date: 2023-01
labs: ["[Anonymous]", "Lab {MARKUP}"]
kind: method
family: "Fam [x]"
aliases: ["[alias]"]
authors: ["Ann [/] Author"]
problem: "Problem {MARKUP}"
solution: "Solution {MARKUP}"
key_ideas: ["Idea {MARKUP}"]
pretraining: "Pre {MARKUP}"
corpus: "Corpus {MARKUP}"
license: "[MIT]"
params: [{{label: "[7B]", total: 7B}}]
links: {{paper: "{url}"}}
sources: ["{url}"]
""")
    write(folder, "model.yaml", f"""\
id: model
name: "Model [beta]"
title: "Direct Preference Optimization: Your Language Model is Secretly a Reward Model"
date: 2023-05-29
date_note: "First arXiv version that day {MARKUP}"
labs: ["[Anonymous]"]
kind: model
architecture: decoder
family: "Fam [x]"
arxiv: "2305.18290"
authors: [Rafael Rafailov, Archit Sharma, Eric Mitchell, Stefano Ermon, Christopher D. Manning, Chelsea Finn]
problem: "P {MARKUP}"
solution: "S {MARKUP}"
uses: [tech]
lineage: [{{id: tech, relation: builds-on, note: "Note {MARKUP}"}}]
""")
    return folder


READ_COMMANDS = [
    ["timeline"], ["timeline", "2023"], ["timeline", "--lab", "[Anonymous]"], ["show", "model"], ["show", "tech"],
    ["tree", "tech"], ["tree", "model", "--ancestors"], ["tree", "--family", "Fam [x]"], ["tree", "--all"],
    ["tree", "tech", "--format", "mermaid"], ["tree", "tech", "--format", "dot"], ["search", "beta"],
    ["validate"], ["path", "tech", "model"], ["path", "tech", "model", "--all"], ["diff", "tech", "model"],
    ["uses", "tech"], ["learn", "model"], ["stats"], ["plot", "params"], ["plot", "count"],
    *[["export", "--format", f] for f in ("json", "yaml", "csv", "bibtex", "markdown", "html")],
]


def assert_shown_not_obeyed(result, args) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, repr(result.exception))
    assert "MarkupError" not in result.output and "Traceback" not in result.output, args
    assert "\x1b]8;" not in result.output, args  # no terminal hyperlink
    assert "\x9b" not in result.output and "\u202e" not in result.output, args


@pytest.mark.parametrize("terminal", [False, True], ids=["piped", "terminal"])
@pytest.mark.parametrize("args", READ_COMMANDS, ids=" ".join)
def test_every_command_shows_markup_as_text(cli, tmp_path, monkeypatch, args, terminal):
    if terminal:
        monkeypatch.setenv("FORCE_COLOR", "1")  # the path a terminal takes: through rich
    monkeypatch.setenv("COLUMNS", "250")
    kb = hostile_kb(tmp_path / "kb")
    result = cli(*args, "--data", kb)
    assert result.exit_code == 0, (args, result.output)
    assert_shown_not_obeyed(result, args)
    if args[0] in ("timeline", "show", "tree", "search", "path", "diff", "uses", "learn") and "--format" not in args:
        shown = result.stdout
        assert "[beta]" in shown, (args, shown)  # harmless brackets are not eaten
        if args[0] in ("timeline", "uses", "diff") and args[1:2] != []:
            assert "[Anonymous]" in shown, (args, shown)


def test_the_overview_and_cards_keep_every_bracket(cli, tmp_path):
    kb = hostile_kb(tmp_path / "kb")
    card = cli("show", "tech", "--data", kb).stdout
    for text in ("Tech [beta] [/]", MARKUP, "[Anonymous]", "[MIT]", "[7B]", "Ann [/] Author"):
        assert text in card, (text, card)
    overview = cli("timeline", "--data", kb).stdout
    assert "Model [beta]" in overview or "Tech [beta]" in overview
    header = cli("diff", "tech", "model", "--data", kb).stdout.splitlines()[1]  # the names head the columns
    assert "Tech [beta] [/]" in header and "Model [beta]" in header, header


def _arxiv_answering(title: str, monkeypatch):
    """A local arXiv whose answer for 2305.18290 carries `title`."""
    from test_arxiv import ATOM, LocalServer, feed

    from evollm.sources import arxiv

    body = feed(["2305.18290"]).replace(
        b"Direct Preference Optimization: Your Language Model is Secretly a Reward Model",
        title.replace("&", "&amp;").replace("<", "&lt;").encode())
    server = LocalServer(lambda method, path, query: (200, ATOM, body))
    monkeypatch.setenv("EVOLLM_ARXIV_API", f"{server.url}/api/query")
    monkeypatch.setattr(arxiv, "MIN_INTERVAL", 0.0)
    return server


def test_check_arxiv_shows_markup_and_controls_from_arxiv_as_text(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # no cell wraps
    kb = hostile_kb(tmp_path / "kb")
    title = "Evil [/] title [link=file:///etc/passwd]x[/link] \u009b2J \u202egnp.exe"
    with _arxiv_answering(title, monkeypatch):
        for run in ("asked", "cached"):  # a cached answer is shown the same way
            result = cli("check", "arxiv", "--data", kb)
            assert result.exit_code == 1, (run, result.output)
            assert_shown_not_obeyed(result, run)
            assert "Evil [/] title [link=file:///etc/passwd]x[/link] " in result.stdout
            assert "2J \\u202egnp.exe" in result.stdout  # the CSI as \\x9b (arxiv 2.x's feedparser makes it ›)


def test_check_links_shows_markup_in_urls_as_text(cli, tmp_path, monkeypatch):
    from test_arxiv import LocalServer

    with LocalServer(lambda method, path, query: (404, {}, b"")) as server:
        kb = hostile_kb(tmp_path / "kb", url=f"{server.url}/a[/]b[link=file:///etc/passwd]x")
        result = cli("check", "links", "--data", kb)
    assert result.exit_code == 1, result.output
    assert_shown_not_obeyed(result, "links")
    assert "/a[/]b[link=file:///etc/passwd]x" in result.stdout.replace("\n", "")


# --- #4: CSV cells that a spreadsheet would run -------------------------------------------------


def test_csv_cells_that_start_a_formula_are_defused(cli, tmp_path):
    import csv
    import io

    write(tmp_path, "x.yaml", entry(name='"=HYPERLINK(\\"http://evil\\")"', title='"+1+cmd"', labs='["-2+3", "@SUM(A1)"]',
                                    problem='"\\tpadded"'))
    result = cli("export", "--format", "csv", "--data", tmp_path)
    assert result.exit_code == 0, result.output
    (row,) = list(csv.DictReader(io.StringIO(result.stdout, newline="")))
    assert row["name"] == "'=HYPERLINK(\"http://evil\")" and row["title"] == "'+1+cmd"
    assert row["labs"] == "'-2+3; @SUM(A1)" and row["id"] == "x"


# --- #14: Mermaid directives from titles --------------------------------------------------------


def test_mermaid_labels_and_titles_carry_no_directive(cli, tmp_path):
    evil = "%%{init: {'themeCSS': 'body {display:none}'}}%%"
    write(tmp_path, "x.yaml", entry(name=f'"{evil}"', family=f'"{evil}"'))
    for args in (["tree", "x"], ["tree", "--family", evil]):
        result = cli(*args, "--format", "mermaid", "--data", tmp_path)
        assert result.exit_code == 0, result.output
        assert "%%" not in result.stdout and "{" not in result.stdout and "themeCSS" in result.stdout
        assert "'" not in result.stdout


# --- #1: values from arXiv go into a draft as YAML data ----------------------------------------


def _arxiv_with_category(term: str, monkeypatch):
    from test_arxiv import ATOM, LocalServer, feed

    from evollm.sources import arxiv

    body = feed(["2305.18290"]).replace(b'<arxiv:primary_category term="cs.LG"/>',
                                        f'<arxiv:primary_category term="{term}"/>'.encode())
    server = LocalServer(lambda method, path, query: (200, ATOM, body))
    monkeypatch.setenv("EVOLLM_ARXIV_API", f"{server.url}/api/query")
    monkeypatch.setattr(arxiv, "MIN_INTERVAL", 0.0)
    return server


@pytest.mark.parametrize("term", [
    "cs.LG&#10;family: injected", "cs.LG&#10;status: draft", "cs.LG: [", "&quot;cs&#10;#", "cs.LG&#13;&#10;x: 1",
    "cs.LG\u202e",
])
def test_a_hostile_category_cannot_add_yaml_lines(cli, tmp_path, monkeypatch, term):
    folder = tmp_path / "kb"
    folder.mkdir()
    with _arxiv_with_category(term, monkeypatch):
        result = cli("add", "--arxiv", "2305.18290", "--data", folder)
    assert result.exit_code == 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    text = (folder / "direct-preference-optimization.yaml").read_text(encoding="utf-8")
    assert "injected" not in text and "x: 1" not in text and "arxiv_category" not in text
    assert "(no category)" in text
    assert cli("validate", "--data", folder).exit_code == 0


def test_a_good_category_is_kept(cli, tmp_path, monkeypatch):
    folder = tmp_path / "kb"
    folder.mkdir()
    with _arxiv_with_category("physics.comp-ph", monkeypatch):
        assert cli("add", "--arxiv", "2305.18290", "--data", folder).exit_code == 0
    assert "arxiv_category: physics.comp-ph\n" in (folder / "direct-preference-optimization.yaml").read_text()


def test_a_draft_is_read_as_strictly_as_the_knowledge_base():
    from evollm.errors import EvollmError
    from evollm.sources.drafts import _validate_text

    good = entry(id="x", links="{paper: 'https://a.org/1'}")
    _validate_text(good, "kb/x.yaml")
    with pytest.raises(EvollmError, match="appears twice"):
        _validate_text(entry(id="x", links="{paper: 'https://a.org/1', paper: 'https://a.org/2'}"), "kb/x.yaml")
    with pytest.raises(EvollmError, match="YAML"):
        _validate_text(entry(id="x", title="[unclosed"), "kb/x.yaml")


# --- #5, #6, #20: network reads are bounded in time and size, and stay on arXiv's origin ---------


class DripServer:
    """A server on 127.0.0.1 that answers each connection with `head` at once and then `drip`
    one byte every `gap` seconds: it never stays silent long enough for a per-read timeout."""

    def __init__(self, head: bytes, drip: bytes, gap: float = 0.1):
        import socket
        import threading

        self.head, self.drip, self.gap = head, drip, gap
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self):
        import threading

        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn):
        import time

        try:
            conn.recv(65536)
            conn.sendall(self.head)
            for byte in self.drip:
                if self.stop.is_set():
                    break
                conn.sendall(bytes([byte]))
                time.sleep(self.gap)
        except OSError:
            pass
        finally:
            conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.sock.close()


@pytest.mark.parametrize("part", ["headers", "body"])
def test_a_dripping_arxiv_is_cut_off_at_the_total_time(cli, tmp_path, monkeypatch, part):
    import time

    from evollm.sources import arxiv

    monkeypatch.setattr(arxiv, "TIMEOUT", 1.0)
    monkeypatch.setattr(arxiv, "MIN_INTERVAL", 0.0)
    if part == "headers":
        server = DripServer(b"HTTP/1.1 200 OK\r\n", b"X-Slow: " + b"a" * 400 + b"\r\n\r\n")
    else:
        server = DripServer(b"HTTP/1.1 200 OK\r\nContent-Length: 4000\r\n\r\n", b"<" * 4000)
    with server:
        monkeypatch.setenv("EVOLLM_ARXIV_API", f"{server.url}/api/query")
        start = time.monotonic()
        result = cli("add", "--arxiv", "2305.18290", "--data", tmp_path)
        elapsed = time.monotonic() - start
    assert result.exit_code == 4, result.output
    assert "arXiv (127.0.0.1:" in result.stderr and "did not answer within 1 s" in result.stderr
    assert elapsed < 6, elapsed  # two tries of 1 s, not 400 bytes x 0.1 s


def test_the_arxiv_requests_of_a_command_share_a_budget(cli, tmp_path, monkeypatch):
    from test_arxiv import ATOM, LocalServer, feed

    from evollm.sources import arxiv

    monkeypatch.setattr(arxiv, "BUDGET", 1.0)
    monkeypatch.setattr(arxiv, "MIN_INTERVAL", 0.0)
    with LocalServer(lambda method, path, query: (200, ATOM, feed(["2305.18290"]), 3.0)) as server:
        monkeypatch.setenv("EVOLLM_ARXIV_API", f"{server.url}/api/query")
        result = cli("add", "--arxiv", "2305.18290", "--data", tmp_path)
    assert result.exit_code == 4, result.output
    assert "arXiv (127.0.0.1:" in result.stderr and "budget of 1 s" in result.stderr


def test_a_dripping_link_is_timed_out_at_the_total_time(tmp_path):
    import time

    from evollm.sources import links

    with DripServer(b"HTTP/1.1 200 OK\r\n", b"X-Slow: " + b"a" * 400 + b"\r\n\r\n") as server:
        start = time.monotonic()
        states = links.check_urls([f"{server.url}/slow"], timeout=0.5)
        elapsed = time.monotonic() - start
    (state,) = states.values()
    assert state.state == "dead" and "timed out" in state.detail
    assert elapsed < 5, elapsed


def test_check_links_has_a_budget_and_names_the_slow_host(cli, tmp_path, monkeypatch):
    from test_arxiv import LocalServer

    from evollm.sources import links

    monkeypatch.setattr(links, "BUDGET", 1.0)
    with LocalServer(lambda method, path, query: (200, {}, b"", 3.0)) as server:
        kb = hostile_kb(tmp_path / "kb", url=f"{server.url}/slow")
        result = cli("check", "links", "--timeout", "10", "--data", kb)
    assert result.exit_code == 4, result.output
    assert "ran out of its 1 s budget; still waiting on 127.0.0.1" in result.stderr


def test_an_oversized_arxiv_answer_is_refused(cli, tmp_path, monkeypatch):
    from evollm.sources import arxiv

    monkeypatch.setattr(arxiv, "MIN_INTERVAL", 0.0)
    size = arxiv.MAX_ANSWER_BYTES + 1024 * 1024
    for head in (f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode(),  # said at once
                 b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"):  # found out while reading
        with DripServer(head + b" " * size, b"") as server:
            monkeypatch.setenv("EVOLLM_ARXIV_API", f"{server.url}/api/query")
            result = cli("add", "--arxiv", "2305.18290", "--data", tmp_path)
        assert result.exit_code == 4, result.output
        assert "is larger than 8 MB; refused" in result.stderr


def test_arxiv_redirects_stay_on_the_endpoints_origin(cli, tmp_path, monkeypatch):
    from test_arxiv import ATOM, LocalServer, feed

    from evollm.sources import arxiv

    monkeypatch.setattr(arxiv, "MIN_INTERVAL", 0.0)
    with LocalServer(lambda method, path, query: (200, ATOM, feed(["2305.18290"]))) as elsewhere:
        moved = {"Location": f"{elsewhere.url.replace('127.0.0.1', 'localhost')}/api/query?id_list=2305.18290"}
        with LocalServer(lambda method, path, query: (302, moved, b"")) as endpoint:
            monkeypatch.setenv("EVOLLM_ARXIV_API", f"{endpoint.url}/api/query")
            result = cli("add", "--arxiv", "2305.18290", "--data", tmp_path)
    assert result.exit_code == 4, result.output
    assert "redirected to another origin (http://localhost:" in result.stderr
    assert elsewhere.requests == []

    def same_origin(method, path, query):
        if path == "/old":
            return 301, {"Location": "/api/query?" + "&".join(f"{k}={v[0]}" for k, v in query.items())}, b""
        return 200, ATOM, feed(query["id_list"][0].split(","))

    with LocalServer(same_origin) as endpoint:
        monkeypatch.setenv("EVOLLM_ARXIV_API", f"{endpoint.url}/old")
        folder = tmp_path / "b"
        folder.mkdir()
        result = cli("add", "--arxiv", "2305.18290", "--data", folder)
    assert result.exit_code == 0, result.output


def test_https_to_http_is_another_origin():
    from evollm.sources.arxiv import _origin

    assert _origin("https://export.arxiv.org/api/query") == _origin("https://EXPORT.arxiv.org:443/x")
    assert _origin("https://export.arxiv.org/api/query") != _origin("http://export.arxiv.org/api/query")


# --- #10, #11: the pacer's state file -----------------------------------------------------------


def test_the_pacer_never_writes_through_a_link(tmp_path):
    from evollm.sources import arxiv

    victim = write(tmp_path, "victim.txt", "precious")
    state = tmp_path / "cache" / "arxiv-last-request"
    state.parent.mkdir()
    state.symlink_to(victim)
    arxiv.Pacer(0.0, state=state).wait()
    assert victim.read_text() == "precious" and state.is_symlink()


def test_concurrent_runs_keep_the_interval(tmp_path):
    import threading
    import time

    from evollm.sources import arxiv

    state = tmp_path / "cache" / "arxiv-last-request"
    pacers = [arxiv.Pacer(0.5, state=state) for _ in range(3)]  # three commands started together
    start, sent = threading.Barrier(3), []

    def run(pacer):
        start.wait()
        pacer.wait()
        sent.append(time.time())

    threads = [threading.Thread(target=run, args=(p,)) for p in pacers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent.sort()
    assert all(b - a >= 0.45 for a, b in zip(sent, sent[1:])), sent


# --- #17: check arxiv --fix leaves the shipped data alone ---------------------------------------


def test_fix_writes_a_local_correction_instead_of_rewriting_the_shipped_data(cli, tmp_path, monkeypatch):
    from test_arxiv import ATOM, KB, LocalServer, feed

    from evollm import kb as kb_module
    from evollm.sources import arxiv

    shipped = tmp_path / "site-packages" / "evollm" / "data" / "papers"
    shipped.mkdir(parents=True)
    write(shipped, "dpo.yaml", KB["dpo"])
    monkeypatch.setattr(kb_module, "_package_data", lambda: shipped)
    monkeypatch.setattr(arxiv, "MIN_INTERVAL", 0.0)
    with LocalServer(lambda method, path, query: (200, ATOM, feed(query["id_list"][0].split(",")))) as server:
        monkeypatch.setenv("EVOLLM_ARXIV_API", f"{server.url}/api/query")
        result = cli("check", "arxiv", "--fix")
        assert result.exit_code == 0, result.output
        assert (shipped / "dpo.yaml").read_text() == KB["dpo"]  # untouched
        local = tmp_path / "home" / "papers" / "dpo.yaml"  # EVOLLM_HOME (conftest)
        assert "Secretly a Reward Model" in local.read_text()
        assert "local corrections in" in result.stderr
        shown = json.loads(cli("show", "dpo", "--json").stdout)
        assert shown["title"].endswith("Secretly a Reward Model") and shown["local_correction"]
        assert cli("check", "arxiv").exit_code == 0  # the correction is what is checked now


def test_fix_rewrites_in_place_in_a_data_folder_the_user_owns(cli, tmp_path, monkeypatch):
    from evollm.sources.compare import fix_target

    folder = tmp_path / "mine"
    folder.mkdir()
    assert fix_target(folder / "dpo.yaml", folder) == folder / "dpo.yaml"
    monkeypatch.setattr(os, "getuid", lambda: os.stat(folder).st_uid + 1)  # someone else's folder
    assert fix_target(folder / "dpo.yaml", folder) == tmp_path / "home" / "papers" / "dpo.yaml"


# --- #21: user-supplied query sizes are capped --------------------------------------------------


@pytest.fixture
def ladder(tmp_path):
    """800 entries, each the child of the two before it: Fibonacci-many chains from e0 to e799."""
    folder = tmp_path / "ladder"
    folder.mkdir()
    for i in range(800):
        parents = [f"{{id: e{j}, relation: extends}}" for j in (i - 1, i - 2) if j >= 0]
        (folder / f"e{i}.yaml").write_text(entry(id=f"e{i}", lineage=f"[{', '.join(parents)}]" if parents else None))
    return folder


def test_path_all_on_a_ladder_is_capped_and_quick(cli, ladder):
    import time
    import tracemalloc

    from evollm import graph
    from evollm.kb import load_knowledge_base

    result = cli("path", "e0", "e799", "--all", "--limit", "1000000", "--data", ladder)
    assert result.exit_code == 2 and "--limit is at most 100 chains with --all" in result.stderr
    kb = load_knowledge_base(ladder)
    tracemalloc.start()
    start = time.monotonic()
    chains, more = graph.all_paths(kb, "e0", "e799", 10_000)
    elapsed = time.monotonic() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(chains) == 100 and more  # capped at MAX_PATHS whatever the caller asks
    assert elapsed < 10 and peak < 100 * 1024 * 1024, (elapsed, peak)
    shown = cli("path", "e0", "e799", "--all", "--limit", "2", "--data", ladder)
    assert "more paths exist than shown; raise --limit (at most 100)" in shown.stdout


def test_search_merges_repeated_words_and_caps_the_query(cli):
    import time

    once = json.loads(cli("search", "encoder", "--json", "--data", MINI).stdout)
    again = json.loads(cli("search", "encoder encoder ENCODER", "--json", "--data", MINI).stdout)
    assert again == once
    start = time.monotonic()
    huge = cli("search", " ".join(["encoder"] * 60_000), "--data", MINI)
    assert huge.exit_code == 2 and "at most 500" in huge.stderr
    many = cli("search", " ".join(f"w{i}" for i in range(30)), "--data", MINI)
    assert many.exit_code == 2 and "30 different words; at most 20" in many.stderr
    assert time.monotonic() - start < 10


def test_warnings_name_files_visibly(cli, tmp_path):
    folder = tmp_path / "kb\x1b[8mhidden"
    write(folder, "x.yaml", entry(id="x", problem=None, solution=None, status="draft"))
    result = cli("validate", "--data", folder)
    assert result.exit_code == 0, result.output
    assert "warning:" in result.stderr and "\x1b" not in result.stderr, result.stderr
    assert "kb\\x1b[8mhidden" in result.stderr
