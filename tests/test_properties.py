"""Property-based tests: round trips of valid entries, and no input ever escapes as a traceback."""

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from evollm.errors import Problem
from evollm.kb import read_entry
from evollm.models import Entry
from evollm.vocab import ARCHITECTURES, KINDS, LINK_KINDS, RELATIONS, TOPICS

slug = st.from_regex(r"[a-z0-9][a-z0-9.-]{0,20}", fullmatch=True)
# Valid text: no surrogates, controls or bidi overrides (the schema refuses those; see below).
text = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"),
               min_size=1, max_size=60).map(str.strip).filter(bool)
months = st.dates(dt.date(1990, 1, 1), dt.date(2024, 12, 31))


@st.composite
def entries(draw):
    day = draw(months)
    arxiv = None
    if day.year >= 2007 and draw(st.booleans()):
        arxiv = f"{day.year % 100:02d}{day.month:02d}.{draw(st.integers(1, 99999)):05d}"
    data = {
        "id": draw(slug), "name": draw(text), "title": draw(text),
        "date": f"{day:%Y-%m}" if draw(st.booleans()) else day.isoformat(),
        "labs": draw(st.lists(text, min_size=1, max_size=3)), "kind": draw(st.sampled_from(KINDS)),
        "problem": draw(text), "solution": draw(text),
        "aliases": draw(st.lists(text, max_size=2)),
        "key_ideas": draw(st.lists(text, max_size=3)),
        "topics": draw(st.lists(st.sampled_from(TOPICS), max_size=3)),
        "links": draw(st.dictionaries(st.sampled_from(LINK_KINDS), slug.map(lambda s: f"https://example.org/{s}"), max_size=2)),
        "params": [{"label": draw(text), "total": total, "active": draw(st.one_of(st.none(), st.integers(1, total)))}
                   for total in draw(st.lists(st.integers(1, 10**13), max_size=2))],
        "lineage": [{"id": draw(slug), "relation": draw(st.sampled_from(list(RELATIONS))), "note": draw(text)}
                    for _ in range(draw(st.integers(0, 2)))],
        "uses": draw(st.lists(slug, max_size=2)),
    }
    if draw(st.booleans()):
        data["architecture"] = draw(st.sampled_from(ARCHITECTURES))
    if arxiv:
        data["arxiv"] = arxiv
        data["date"] = f"20{arxiv[:2]}-{arxiv[2:4]}"
    return Entry.model_validate(data)


@given(entries())
def test_yaml_round_trip(tmp_path_factory, entry):
    folder = tmp_path_factory.mktemp("rt")
    path = folder / f"{entry.id}.yaml"
    path.write_text(yaml.safe_dump(entry.model_dump(mode="json", exclude_none=True), allow_unicode=True), encoding="utf-8")
    back, problems = read_entry(path, path.name)
    assert problems == [] and back == entry


@given(entries())
def test_json_round_trip(entry):
    assert Entry.model_validate(json.loads(json.dumps(entry.model_dump(mode="json")))) == entry


def _read(tmp_path_factory, content: bytes):
    path = tmp_path_factory.mktemp("fuzz") / "x.yaml"
    path.write_bytes(content)
    back, problems = read_entry(path, "x.yaml")
    assert (back is None) == bool(problems)
    assert all(isinstance(p, Problem) for p in problems)


@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_escape(tmp_path_factory, content):
    _read(tmp_path_factory, content)


yaml_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20), st.dates()),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.one_of(st.text(max_size=10), st.sampled_from(list(Entry.model_fields))),
                                               children, max_size=6)),
    max_leaves=20,
)


@given(st.dictionaries(st.sampled_from(list(Entry.model_fields)), yaml_values, max_size=12) | yaml_values)
def test_arbitrary_yaml_documents_never_escape(tmp_path_factory, document):
    _read(tmp_path_factory, yaml.safe_dump(document, allow_unicode=True).encode())


WORDS = ["timeline", "show", "tree", "search", "validate", "path", "diff", "uses", "learn", "demos",
         "--json", "--family", "--depth", "--limit", "--max", "--lab", "--kind", "--all", "--ancestors",
         "--open", "--data", "2019", "2017..2020", "2020..2018", "-1", "0", "enc", "attn", "ENC2", "bert", ""]


@given(st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=12)), max_size=6))
def test_arbitrary_arguments_never_trace_back(cli, args):
    args = [a for a in args if "\x00" not in a]
    if "--data" not in args:
        args += ["--data", str(Path(__file__).parent / "fixtures" / "mini")]
    result = cli(*args)
    assert result.exit_code in (0, 1, 2, 3), (args, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, repr(result.exception))
    assert "Traceback" not in result.output


@given(st.lists(st.text("abce_1", max_size=5), unique=True), st.text("abce_1", max_size=3))
def test_token_prefix_lookup_equals_a_scan(tokens, word):
    from evollm.cache import TokenIndex

    tokens = sorted(tokens)
    index = TokenIndex(None, tokens, list(range(len(tokens))))
    assert index.matching(word) == [i for i, token in enumerate(tokens) if token.startswith(word)]


# --- Hardening II (issue 18): hostile text in every field -----------------------------------------
# Control characters (C0, C1, DEL), bidirectional overrides, rich markup and brackets, anywhere.
# Whatever the schema accepts or refuses, no command crashes, prints an ESC (or a C1 control or
# a bidi override) that came from the data, or drops bracketed text.

import re  # noqa: E402

HOSTILE_PIECES = ["[/]", "[bold]", "[link=file:///etc/passwd]", "[/link]", "[beta]", "[", "]", "\\", "%%{init}%%",
                  "\x1b]52;c;eA==\x07", "\x1b[2J", "\x07", "\x00", "\x9b", "\x85", "\u202e", "\u2066", "\t", "\n",
                  "=cmd", "@x", "*", "_", "<b>", "&amp;"]
hostile = st.lists(st.one_of(st.sampled_from(HOSTILE_PIECES), st.text("abcXYZ [] 019", max_size=4)),
                   min_size=1, max_size=5).map("".join)
_STYLES = re.compile(r"\x1b\[[0-9;]*m")  # what rich itself writes for bold and colour
_FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _hostile_entries(draw) -> dict[str, str]:
    def field():
        return draw(hostile)

    a = {"id": "a", "name": field(), "title": field(), "date": "2019-02", "labs": [field()], "kind": "method",
         "problem": field(), "solution": field(), "key_ideas": [field()], "aliases": [field()],
         "family": field(), "license": field(), "corpus": field(), "params": [{"label": field(), "total": 7}],
         "authors": [field(), field()], "pretraining": field(), "date_note": field()}
    b = {"id": "b", "name": field(), "title": field(), "date": "2020-03", "labs": [field(), field()],
         "kind": "model", "problem": field(), "solution": field(), "uses": ["a"],
         "lineage": [{"id": "a", "relation": "builds-on", "note": field()}]}
    return {"a": yaml.safe_dump(a, allow_unicode=True), "b": yaml.safe_dump(b, allow_unicode=True)}, a, b


HOSTILE_COMMANDS = [["validate"], ["timeline"], ["timeline", "2019..2020"], ["show", "a"], ["show", "b"],
                    ["tree", "a"], ["diff", "a", "b"], ["uses", "a"], ["learn", "b"], ["stats"],
                    ["tree", "a", "--format", "mermaid"], ["export", "--format", "markdown"]]


@settings(max_examples=15)  # each example runs a dozen commands
@given(st.data(), st.booleans())
def test_hostile_text_is_shown_never_obeyed(cli, tmp_path_factory, monkeypatch, data, terminal):
    files, a, b = _hostile_entries(data.draw)
    folder = tmp_path_factory.mktemp("hostile")
    for name, text in files.items():
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("COLUMNS", "400")
    if terminal:
        monkeypatch.setenv("FORCE_COLOR", "1")  # through rich, as on a terminal
    else:
        monkeypatch.delenv("FORCE_COLOR", raising=False)
    valid = None
    for args in HOSTILE_COMMANDS:
        result = cli(*args, "--data", folder)
        assert result.exception is None or isinstance(result.exception, SystemExit), (args, repr(result.exception))
        assert "Traceback" not in result.output
        assert result.exit_code in (0, 1, 3), (args, result.output)
        shown = _STYLES.sub("", result.output)
        assert not _FORBIDDEN.search(shown.replace("\t", "").replace("\n", "")), (args, shown)
        if valid is None:
            valid = result.exit_code == 0
        assert result.exit_code == (0 if valid else 3), (args, result.output)
    if valid:  # nothing was refused: every bracket must be shown as written
        card = _STYLES.sub("", cli("show", "a", "--data", folder).stdout)
        assert a["name"].strip() in card and " ".join(a["title"].split()) in " ".join(card.split())


HOSTILE_DEMO_ARGS = [["--seed", "-1"], ["--seed", "9" * 40], ["--set", "d=-1"], ["--set", "d=0"],
                     ["--set", "d=3"], ["--set", "base=nan"], ["--set", "max_position=-5"]]


@pytest.mark.parametrize("args", HOSTILE_DEMO_ARGS, ids=" ".join)
def test_hostile_demo_settings_are_refused_cleanly(cli, args):
    result = cli("demo", "rope", "--quick", "--json", *args)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, result.output  # refused before running, with what is accepted
