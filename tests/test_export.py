"""Exporters, graph formats, stats and plots on fixture knowledge bases.

`tricky` is the mini fixture plus two entries whose every text is hostile to some format (HTML
tags, a closing </script>, LaTeX specials, quotes, Mermaid's '#') and which share an arXiv id.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from evollm import graph
from evollm.export import EXPORTERS, bibtex, graphs, html, markdown
from evollm.kb import load_knowledge_base
from evollm.models import Entry

from conftest import MINI

TRICKY_ENTRY = r'''
id: tricky
name: "<b>Tricky</b> & Co #1"
title: "Fast & {Cheap} LLMs: 100% of the_GPU <script>alert(1)</script>"
date: 2019-05
labs: ["Lab \"Quote\" <i>"]
kind: model
authors: [Łukasz Kaiser, "Jürgen O'Neil", Gemini Team, et al.]
arxiv: "1905.00001"
aliases: ["Trick <x>"]
family: Dec
architecture: decoder
problem: "Ends the script: </script><script>alert(2)</script> and opens a comment <!-- here"
solution: "Uses $x^2$ ~ # and a \\ backslash. Then more."
key_ideas: ["a < b && c > d", "`code` *stars* _under_ [link](x)"]
links: {paper: "https://example.org/p?a=1&b=2"}
lineage: [{id: dec, relation: extends, note: "note with <tag> and \"quotes\""}]
params: [{label: "<MoE>", total: 8B, active: 2B}]
'''
TWIN_ENTRY = '''
id: tricky-twin
name: Twin
title: The Same Paper, Seen as a Benchmark
date: 2019-05
labs: [Lab Two]
kind: benchmark
arxiv: "1905.00001"
problem: Measured nothing.
solution: Measures the tricky model.
'''
HOSTILE = ("<b>Tricky", "<script>alert", "</script><script>", "<!-- here", "<i>", "<x>", "<tag>", "<MoE>")


@pytest.fixture
def tricky(tmp_path) -> Path:
    folder = tmp_path / "tricky"
    shutil.copytree(MINI, folder)
    (folder / "tricky.yaml").write_text(TRICKY_ENTRY, encoding="utf-8")
    (folder / "tricky-twin.yaml").write_text(TWIN_ENTRY, encoding="utf-8")
    return folder


def export(cli, *args):
    result = cli("export", *args)
    assert result.exit_code == 0, result.output
    return result.stdout


# --- every exporter -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(EXPORTERS))
def test_every_exporter_is_deterministic_text(fmt, tricky):
    kb = load_knowledge_base(tricky)
    first, second = EXPORTERS[fmt](list(kb), kb), EXPORTERS[fmt](list(kb), kb)
    assert isinstance(first, str) and first.endswith("\n") and first == second


@pytest.mark.parametrize("fmt", sorted(EXPORTERS))
def test_every_exporter_takes_an_empty_list(fmt):
    kb = load_knowledge_base(MINI)
    assert isinstance(EXPORTERS[fmt]([], kb), str)


# --- JSON, YAML, CSV ------------------------------------------------------------------------------


def test_json_round_trips_through_the_schema(cli, tricky):
    kb = load_knowledge_base(tricky)
    items = json.loads(export(cli, "--format", "json", "--data", tricky))
    assert [item["id"] for item in items] == list(kb.entries)
    for item in items:
        again = Entry.model_validate(item)
        assert again.model_dump() == kb.entries[item["id"]].model_dump()
    assert items[-1]["params"] == [{"label": "moe", "total": 47_000_000_000, "active": 13_000_000_000}]


def test_yaml_round_trips_and_each_item_is_an_entry_file(cli, tricky, tmp_path):
    kb = load_knowledge_base(tricky)
    items = yaml.safe_load(export(cli, "--format", "yaml", "--data", tricky))
    assert [Entry.model_validate(item).model_dump() for item in items] == [e.model_dump() for e in kb]
    # Saved one per file, the items are a knowledge base equal to the original.
    folder = tmp_path / "again"
    folder.mkdir()
    for item in items:
        (folder / f"{item['id']}.yaml").write_text(yaml.safe_dump(item, allow_unicode=True), encoding="utf-8")
    again = load_knowledge_base(folder, use_cache=False)
    assert [e.model_dump() for e in again] == [e.model_dump() for e in kb]


@pytest.mark.parametrize("fmt", ["json", "yaml", "csv", "bibtex", "markdown", "html"])
def test_a_cached_run_exports_the_same_bytes(cli, fmt, monkeypatch):
    fresh = export(cli, "--format", fmt, "--data", MINI)  # reads the files, fills the cache
    cached = export(cli, "--format", fmt, "--data", MINI)  # served from the cache
    monkeypatch.setenv("EVOLLM_NO_CACHE", "1")
    assert fresh == cached == export(cli, "--format", fmt, "--data", MINI)


def test_csv_one_row_per_entry(cli):
    rows = list(csv.DictReader(io.StringIO(export(cli, "--format", "csv", "--data", MINI), newline="")))
    assert [r["id"] for r in rows] == ["attn", "rotary", "dec", "enc", "dec-2", "enc-2", "loner", "hybrid"]
    hybrid = rows[-1]
    assert hybrid["params"] == "moe=47000000000 (13000000000 active)"
    assert hybrid["largest_params"] == "47000000000"
    assert hybrid["lineage"] == "enc-2 (combines); dec-2 (combines)"
    assert hybrid["labs"] == "Lab Three; Lab One"
    assert rows[0]["paper"] == "https://arxiv.org/abs/1706.03762" and rows[0]["arxiv"] == "1706.03762"


# --- BibTeX ---------------------------------------------------------------------------------------


def test_bibtex_parses_back_one_entry_per_paper(cli, tricky):
    import bibtexparser

    text = export(cli, "--format", "bibtex", "--data", tricky)
    library = bibtexparser.parse_string(text)
    assert library.failed_blocks == []
    kb = load_knowledge_base(tricky)
    papers = {bibtex.paper_of(e) for e in kb}
    assert len(library.entries) == len(papers) == len(kb) - 1  # the twin shares the tricky arXiv paper
    keys = [e.key for e in library.entries]
    assert len(set(keys)) == len(keys)
    entry = {e.key: e for e in library.entries}["kaiser2019fast"]
    fields = {f.key: f.value for f in entry.fields}
    # LaTeX specials escaped; words with inner capitals braced against a style's lower-casing.
    assert fields["title"] == (r"Fast \& {\textbraceleft{}Cheap\textbraceright{}} {LLMs:} 100\% of {the\_GPU} "
                               r"<script>alert(1)</script>")
    assert fields["author"] == r"Łukasz Kaiser and Jürgen O'Neil and {Gemini Team} and others"
    assert fields["year"] == "2019" and fields["month"] == "may"
    assert fields["eprint"] == "1905.00001" and fields["archivePrefix"] == "arXiv"
    assert fields["url"] == "https://arxiv.org/abs/1905.00001"
    assert entry.entry_type == "misc"


def test_bibtex_braces_balance_in_every_value(tricky):
    kb = load_knowledge_base(tricky)
    for entry in kb:
        depth = 0
        for char in bibtex.bib_entry(entry, "key"):
            depth += {"{": 1, "}": -1}.get(char, 0)
            assert depth >= 0
        assert depth == 0


def test_bibtex_keys_do_not_change_with_filters(cli, tricky):
    everything = re.findall(r"@misc\{([^,]+),", export(cli, "--format", "bibtex", "--data", tricky))
    some = re.findall(r"@misc\{([^,]+),", export(cli, "--format", "bibtex", "--data", tricky, "--year", "2019"))
    assert some and set(some) < set(everything)
    assert "vaswani2017attention" == bibtex.base_key(_entry(authors=["Ashish Vaswani", "Noam Shazeer"],
                                                             title="Attention Is All You Need", date="2017-06",
                                                             arxiv="1706.03762"))


def _entry(**fields):
    base = {"id": "x", "name": "X", "title": "T", "date": "2020-01", "labs": ["L"], "kind": "model",
            "problem": "p", "solution": "s"}
    return Entry.model_validate({**base, **fields})


def test_bibtex_key_clashes_get_letters():
    kb = load_knowledge_base(MINI)
    keys = bibtex.citation_keys(kb)
    assert len(set(keys.values())) == len(keys)
    assert keys["arXiv:1706.03762"] == "lab2017attention"  # no authors: the lab is the author


@pytest.mark.skipif(not shutil.which("biber"), reason="biber not installed")
def test_biber_reads_the_bibtex(cli, tricky, tmp_path):
    bib = tmp_path / "refs.bib"
    bib.write_text(export(cli, "--format", "bibtex", "--data", tricky), encoding="utf-8")
    out = subprocess.run(["biber", "--tool", "--validate-datamodel", f"--output-file={tmp_path / 'out.bib'}", str(bib)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert not re.search(r"^(WARN|ERROR)", out.stdout, re.M), out.stdout


# --- Markdown -------------------------------------------------------------------------------------


def test_markdown_timeline_and_references(cli, tricky):
    text = export(cli, "--format", "markdown", "--data", tricky)
    assert text.startswith("# How large language models evolved\n")
    years = re.findall(r"^### (\d{4})", text, re.M)
    assert years == ["2017", "2018", "2019", "2020"]
    refs = re.findall(r"^(\d+)\. ", text.split("## References")[1], re.M)
    assert refs == [str(n) for n in range(1, len(refs) + 1)] and len(refs) == 9  # 10 entries, one shared paper
    tricky_line = next(line for line in text.splitlines() if "Tricky" in line)
    assert r"\<b\>Tricky\</b\> \& Co #1" in tricky_line
    twin_line = next(line for line in text.splitlines() if "**Twin**" in line)
    assert tricky_line.rstrip("\\").endswith("[6]") and twin_line.rstrip("\\").endswith("[6]")
    assert "<script>" not in text and "<b>" not in text


def test_markdown_escapes_what_markdown_would_interpret():
    assert markdown.md("a *b* _c_ [d](e) <f> `g` | h & i\nj") == r"a \*b\* \_c\_ \[d\](e) \<f\> \`g\` \| h \& i j"


# --- HTML -----------------------------------------------------------------------------------------


class _Page(HTMLParser):
    """Collects start tags, visible text and the bodies of <script> blocks."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.scripts: list[tuple[dict, str]] = []
        self._script: dict | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._script = dict(attrs)
            self.scripts.append((self._script, ""))

    def handle_endtag(self, tag):
        if tag == "script":
            self._script = None

    def handle_data(self, data):
        if self._script is not None:
            attrs, body = self.scripts[-1]
            self.scripts[-1] = (attrs, body + data)
        else:
            self.text.append(data)


def _page(cli, data) -> tuple[str, _Page]:
    text = export(cli, "--format", "html", "--data", data)
    parser = _Page()
    parser.feed(text)
    parser.close()
    return text, parser


def test_html_escapes_everything_from_the_data(cli, tricky):
    text, page = _page(cli, tricky)
    for raw in HOSTILE:
        assert raw not in text, raw
    assert text.count("<script") == 2  # the search index and the search code, nothing from the data
    # Escaped, not dropped: the parsed page shows the text as written.
    visible = " ".join(page.text)
    assert "<b>Tricky</b> & Co #1" in visible
    assert "Ends the script: </script><script>alert(2)</script> and opens a comment <!-- here" in visible
    # The embedded JSON has no raw <, yet decodes to the original text.
    (attrs, body), = [(a, b) for a, b in page.scripts if a.get("type") == "application/json"]
    assert "<" not in body and "\\u003c" in body
    index = {item["id"]: item["text"] for item in json.loads(body)}
    assert "</script><script>alert(2)</script>" in index["tricky"]
    # Attributes: the paper link keeps its query string, escaped.
    assert 'href="https://example.org/p?a=1&amp;b=2"' in text


def test_html_loads_nothing_from_the_network(cli):
    text, page = _page(cli, MINI)
    for tag, attrs in page.tags:
        for name in ("src", "srcset", "poster", "data", "action", "background"):
            assert name not in attrs or not re.match(r"\s*(https?:)?//", attrs[name]), (tag, attrs)
        if tag != "a" and "href" in attrs:  # <link href>, <use href>, <image href> would load it
            assert not re.match(r"\s*(https?:)?//", attrs["href"]), (tag, attrs)
    assert not page.tags or all(tag not in ("link", "img", "iframe", "object", "embed") for tag, _ in page.tags)
    assert "@import" not in text and not re.search(r"url\(\s*['\"]?\s*(https?:)?//", text)
    csp = next(a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in csp
    # Links to papers are plain links, and expected.
    assert 'href="https://arxiv.org/abs/1706.03762"' in text


def test_html_has_cards_years_chart_and_trees(cli):
    text, page = _page(cli, MINI)
    cards = [attrs for tag, attrs in page.tags if tag == "article"]
    assert [c["data-id"] for c in cards] == ["attn", "rotary", "dec", "enc", "dec-2", "enc-2", "loner", "hybrid"]
    assert [a["id"] for t, a in page.tags if t == "section" and "year" in a.get("class", "")] == \
        ["y2017", "y2018", "y2019", "y2020"]
    svg = text[text.index("<svg class=\"chart\""):text.index("</svg>", text.index("<svg class=\"chart\""))]
    assert svg.count("<circle") >= 4 + 1  # enc (2 sizes), dec-2, hybrid total and active
    assert "mixture of experts" in svg and "Hybrid" in svg
    assert '<div class="family"><h3>Dec' in text and '<div class="family"><h3>Enc' in text
    assert 'href="#e-hybrid"' in text  # lineage links stay inside the page


def test_html_search_text_covers_names_and_prose(tricky):
    kb = load_knowledge_base(tricky)
    hay = html.search_text(kb.entries["enc-2"])
    assert "enc two" in hay and "lab three" in hay and "dynamic masking" in hay and hay == hay.casefold()


# --- graphs ---------------------------------------------------------------------------------------

SAFE_ID = re.compile(r"^e_[A-Za-z0-9_]+$")


def _forest(kb, how):
    if how == "all":
        return graph.whole_forest(kb)
    if how == "ancestors":
        return [graph.build_tree(kb, "hybrid", upward=True)]
    return graph.family_forest(kb, "Dec")


@pytest.mark.parametrize("how", ["all", "ancestors", "family"])
def test_graph_edges_run_parent_to_child_once(how, tricky):
    kb = load_knowledge_base(tricky)
    drawing = graphs.collect(kb, _forest(kb, how))
    for parent, child, relation, _ in drawing.edges:
        link = next(p for p in kb.entries[child].lineage if p.id == parent)
        assert link.relation == relation
    assert len(set((p, c) for p, c, _, _ in drawing.edges)) == len(drawing.edges)
    assert len(set(drawing.nodes)) == len(drawing.nodes)
    if how == "ancestors":
        assert set(drawing.nodes) == {"hybrid", "enc-2", "dec-2", "enc", "dec", "attn"}
        assert ("attn", "enc", "builds-on", "keeps the encoder stack") in drawing.edges  # reached twice, drawn once


def test_node_ids_are_safe_and_distinct():
    ids = graphs.node_ids(["gpt-3.5", "gpt-3-5", "end", "1bit", "a.b-c"])
    assert all(SAFE_ID.match(v) for v in ids.values())
    assert len(set(ids.values())) == 5
    assert ids["end"] == "e_end" and ids["gpt-3.5"] == "e_gpt_3_5" and ids["gpt-3-5"] == "e_gpt_3_5_2"


def test_mermaid_text(cli, tricky):
    result = cli("tree", "--all", "--format", "mermaid", "--data", tricky)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith('---\ntitle: "Every entry, from its roots"\n---\nflowchart TB\n')
    assert '  subgraph arch_decoder ["Decoder-only"]' in out and '  subgraph arch_encoder_decoder ["Encoder-decoder"]' in out
    assert '  e_attn -->|"builds-on"| e_dec' in out and '  e_enc_2 -->|"combines"| e_hybrid' in out
    assert '#lt;b#gt;Tricky#lt;/b#gt; #amp; Co #35;1<br/>2019-05' in out
    assert re.sub(r"<br/>", "", out).count("<") == 0  # no raw < but our line breaks
    for node in re.findall(r"^\s+(\S+)\[\"", out, re.M):
        assert SAFE_ID.match(node), node
    assert out.count('e_hybrid["') == 1  # reached twice, declared once


def test_dot_text_and_graphviz_renders_it(cli, tricky, tmp_path):
    result = cli("tree", "hybrid", "--ancestors", "--format", "dot", "--data", tricky)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("digraph evollm {") and out.rstrip().endswith("}")
    assert "subgraph cluster_encoder {" in out and "subgraph cluster_decoder {" in out
    assert '  e_enc -> e_enc_2 [label="improves", tooltip="same architecture, better recipe"];' in out
    everything = cli("tree", "--all", "--format", "dot", "--data", tricky).stdout
    assert r'label="\<b\>Tricky' not in everything and r'label="<b>Tricky</b> & Co #1\n2019-05"' in everything
    assert r'tooltip="note with <tag> and \"quotes\""' in everything
    if not shutil.which("dot"):
        pytest.skip("Graphviz dot not installed")
    for text in (out, everything, cli("tree", "attn", "--depth", "1", "--format", "dot", "--data", tricky).stdout):
        svg = subprocess.run(["dot", "-Tsvg"], input=text, capture_output=True, text=True, timeout=60)
        assert svg.returncode == 0 and "<svg" in svg.stdout, svg.stderr
        assert "Warning" not in svg.stderr and "Error" not in svg.stderr, svg.stderr


def test_dot_marks_nodes_cut_by_depth(cli):
    out = cli("tree", "attn", "--depth", "1", "--format", "dot", "--data", MINI).stdout
    assert re.search(r'e_dec \[label="Dec-1\\n2018-06\\n…".*style="rounded,filled,dashed"', out)
    assert "e_dec_2" not in out


# --- the export command ---------------------------------------------------------------------------


def test_export_filters_like_timeline(cli):
    ids = lambda *args: [e["id"] for e in json.loads(export(cli, "--format", "json", "--data", MINI, *args))]  # noqa: E731
    assert ids("--year", "2018..2019") == ["rotary", "dec", "enc", "dec-2", "enc-2"]
    assert ids("--year", "2019") == ["dec-2", "enc-2"]
    assert ids("--lab", "lab one") == ["attn", "dec", "dec-2", "hybrid"]
    assert ids("--kind", "benchmark") == ["loner"]
    assert ids("--family", "enc", "--topic", "pretraining") == ["enc"]


def test_export_to_a_file_never_overwrites_without_force(cli, tmp_path):
    target = tmp_path / "refs.bib"
    result = cli("export", "-o", target, "--data", MINI)  # format from the suffix
    assert result.exit_code == 0, result.output
    assert target.read_text(encoding="utf-8").startswith("@misc{")
    assert "wrote 8 entries as bibtex to" in result.stderr and result.stdout == ""
    target.write_text("mine", encoding="utf-8")
    result = cli("export", "--format", "bibtex", "-o", target, "--data", MINI)
    assert result.exit_code == 6, result.output  # ExitCode.FILE_EXISTS (was 1 before issue 20)
    assert "exists; use --force to overwrite it" in result.stderr
    assert target.read_text(encoding="utf-8") == "mine"
    result = cli("export", "--format", "bibtex", "-o", target, "--force", "--data", MINI)
    assert result.exit_code == 0, result.output
    assert target.read_text(encoding="utf-8").startswith("@misc{")


@pytest.mark.parametrize("args, code, message", [
    (["--format", "pdf"], 2, "'pdf' is not one of 'json', 'yaml', 'csv', 'bibtex', 'markdown', 'html'"),
    ([], 2, "give --format; accepted: json"),
    (["-o", "notes.txt"], 2, "give --format (cannot tell from 'notes.txt'); accepted"),
    (["--format", "json", "--year", "20x9"], 2, "invalid year '20x9'"),
    (["--format", "json", "--kind", "toy"], 2, "unknown kind 'toy'"),
    (["--format", "json", "--family", "nope"], 2, "unknown family 'nope'"),
    (["--format", "json", "-o", "no/such/folder/x.json"], 1, "no folder 'no/such/folder'"),
])
def test_export_errors(cli, args, code, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("export", *args, "--data", MINI)
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_export_into_a_folder_is_refused(cli, tmp_path):
    result = cli("export", "--format", "json", "-o", tmp_path, "--data", MINI)
    assert result.exit_code == 2 and "is a folder" in result.stderr


def test_export_with_no_match_warns_and_writes_an_empty_list(cli):
    result = cli("export", "--format", "json", "--year", "2021", "--data", MINI)
    assert result.exit_code == 0 and json.loads(result.stdout) == []
    assert "no entries match" in result.stderr


# --- stats and plots ------------------------------------------------------------------------------


def test_stats_json_and_tables(cli):
    result = cli("stats", "--data", MINI, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["entries"] == 8
    assert data["by_year"] == {"2017": 1, "2018": 3, "2019": 2, "2020": 2}
    assert data["by_kind"] == {"model": 5, "method": 1, "architecture": 1, "benchmark": 1}
    assert data["by_family"] == {"Enc": 3, "Dec": 2}
    assert data["by_lab"]["Lab One"] == 4 and list(data["by_lab"])[0] == "Lab One"
    assert data["by_topic"] == {"attention": 1, "position-encoding": 1, "pretraining": 1}
    text = cli("stats", "--data", MINI, "--top", "2").stdout
    for heading in ("8 entries", "Year", "Kind", "Architecture", "Family", "Lab", "Topic", "… 4 more"):
        assert heading in text, heading
    filtered = json.loads(cli("stats", "--data", MINI, "--json", "--year", "2019").stdout)
    assert filtered["entries"] == 2
    assert cli("stats", "--data", MINI, "--top", "0").exit_code == 2


def test_plot_params_json_tells_moe_apart(cli):
    result = cli("plot", "params", "--data", MINI, "--json")
    assert result.exit_code == 0, result.output
    points = json.loads(result.stdout)
    assert [(p["id"], p["total"], p["active"]) for p in points] == [
        ("enc", 110_000_000, None), ("enc", 340_000_000, None), ("dec-2", 1_500_000_000, None),
        ("hybrid", 47_000_000_000, 13_000_000_000)]
    lab = json.loads(cli("plot", "params", "--data", MINI, "--json", "--lab", "lab three").stdout)
    assert {p["id"] for p in lab} == {"hybrid"}
    family = json.loads(cli("plot", "params", "--data", MINI, "--json", "--family", "dec").stdout)
    assert {p["id"] for p in family} == {"dec-2"}


def test_plot_params_draws_log_scale_with_names(cli):
    result = cli("plot", "params", "--data", MINI, "--height", "20")
    assert result.exit_code == 0, result.output
    out = result.stdout
    lines = out.splitlines()
    assert "Parameters of released models (log scale)" in lines[0]
    assert len(lines) == 21 and max(len(line) for line in lines[:-1]) <= 100  # COLUMNS=100 in tests
    for text in ("100M", "1B", "10B", "100B", "Enc-1", "Dec-2", "Hybrid", "◆", "✚", "■", "○"):
        assert text in out, text
    assert "○ active parameters (mixture of experts)" in lines[-1]
    assert "\x1b[" not in out  # no colour codes into a pipe


def test_plot_count_stacks_kinds(cli):
    result = cli("plot", "count", "--data", MINI, "--height", "14")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in ("2017", "2018", "2019", "2020", "█ model", "▓ method", "▒ architecture", "░ benchmark"):
        assert text in out, text
    rows = json.loads(cli("plot", "count", "--data", MINI, "--json").stdout)
    assert rows == [{"year": 2017, "model": 0, "method": 0, "architecture": 1, "benchmark": 0},
                    {"year": 2018, "model": 2, "method": 1, "architecture": 0, "benchmark": 0},
                    {"year": 2019, "model": 2, "method": 0, "architecture": 0, "benchmark": 0},
                    {"year": 2020, "model": 1, "method": 0, "architecture": 0, "benchmark": 1}]


@pytest.mark.parametrize("args, message", [
    (["plot", "sizes"], "'sizes' is not one of 'params', 'context', 'tokens', 'compute', 'count'"),
    (["plot", "params", "--height", "3"], "Invalid value for '--height'"),
    (["plot", "params", "--family", "nope"], "unknown family 'nope'"),
])
def test_plot_usage_errors(cli, args, message):
    result = cli(*args, "--data", MINI)
    assert result.exit_code == 2, result.output
    assert message in result.stderr


PROBE = """
import json, sys
from typer.testing import CliRunner
from evollm.cli import app
result = CliRunner().invoke(app, sys.argv[1:])
print(json.dumps({"exit": result.exit_code, "plotext": "plotext" in sys.modules}))
"""


@pytest.mark.parametrize("args, imports", [
    (["export", "--format", "html"], False), (["stats"], False), (["tree", "--all", "--format", "dot"], False),
    (["plot", "params"], True),
])
def test_only_plot_imports_plotext(args, imports):
    out = subprocess.run([sys.executable, "-c", PROBE, *args, "--data", str(MINI)], capture_output=True, text=True,
                         check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"exit": 0, "plotext": imports}
