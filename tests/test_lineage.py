"""Paths, differences, adopters and reading orders on knowledge bases with diamonds, several roots
and unrelated components."""

import itertools
import json

import pytest

from evollm import graph
from evollm.kb import load_knowledge_base

from conftest import MINI


def write_kb(folder, edges: dict[str, list[str]], dates: dict[str, str]):
    """A knowledge base from {child: [parents]} and {id: date}."""
    for entry_id, date in dates.items():
        lineage = "".join(f"\n  - {{id: {p}, relation: builds-on, note: from {p}}}" for p in edges.get(entry_id, []))
        (folder / f"{entry_id}.yaml").write_text(
            f"id: {entry_id}\nname: {entry_id.upper()}\ntitle: T\ndate: {date}\nlabs: [L]\nkind: model\n"
            f"problem: p\nsolution: s\nlineage:{lineage or ' []'}\n")
    return load_knowledge_base(folder)


@pytest.fixture
def tie_kb(tmp_path):
    # Two equally short chains r -> {a, b} -> z; a second root q; an unrelated pair u -> v.
    return write_kb(tmp_path, {"a": ["r"], "b": ["r"], "z": ["b", "a"], "y": ["z", "q"], "v": ["u"]},
                    {"r": "2017-01", "a": "2018-01", "b": "2018-01", "q": "2018-06", "z": "2019-01", "y": "2020-01",
                     "u": "2017-05", "v": "2017-09"})


def test_shortest_path_tie_is_broken_by_date_then_id(tie_kb):
    assert graph.shortest_path(tie_kb, "r", "z") == ["r", "a", "z"]  # a and b share a date: 'a' first
    assert graph.shortest_path(tie_kb, "r", "y") == ["r", "a", "z", "y"]


def test_all_paths_shortest_first_and_complete(tie_kb):
    chains, more = graph.all_paths(tie_kb, "r", "y")
    assert chains == [["r", "a", "z", "y"], ["r", "b", "z", "y"]] and not more
    chains, more = graph.all_paths(tie_kb, "r", "y", limit=1)
    assert chains == [["r", "a", "z", "y"]] and more


def test_no_path_between_components(tie_kb):
    assert graph.shortest_path(tie_kb, "u", "y") is None
    assert graph.all_paths(tie_kb, "u", "y") == ([], False)
    assert graph.nearest_common_ancestor(tie_kb, "v", "y") is None


def test_same_entry_is_a_path_of_one(tie_kb):
    assert graph.shortest_path(tie_kb, "z", "z") == ["z"]


def test_nearest_common_ancestor(tie_kb):
    assert graph.nearest_common_ancestor(tie_kb, "a", "b") == "r"
    assert graph.nearest_common_ancestor(tie_kb, "z", "y") == "z"  # an entry is its own ancestor
    assert graph.nearest_common_ancestor(tie_kb, "y", "q") == "q"


def test_reading_order_respects_every_edge(tie_kb):
    order = graph.reading_order(tie_kb, "y")
    assert order[-1] == "y"
    assert set(order) == {"r", "a", "b", "q", "z", "y"}
    position = {i: n for n, i in enumerate(order)}
    for entry in tie_kb:
        for parent in entry.lineage:
            if entry.id in position and parent.id in position:
                assert position[parent.id] < position[entry.id]


def test_reading_order_is_topological_on_the_mini_kb_for_every_target_and_limit():
    kb = load_knowledge_base(MINI)
    for target, limit in itertools.product(kb.entries, (None, 1, 2, 3, 5)):
        order = graph.reading_order(kb, target, limit)
        assert order[-1] == target
        if limit:
            assert len(order) <= limit
        position = {i: n for n, i in enumerate(order)}
        for a, b in itertools.combinations(order, 2):
            if a in graph.ancestors(kb, b):  # also through entries left out by the limit
                assert position[a] < position[b]


def test_cli_path(cli, tmp_path, tie_kb):
    result = cli("path", "r", "y", "--data", tmp_path, "--json")
    assert result.exit_code == 0
    steps = json.loads(result.stdout)[0]
    assert [s["id"] for s in steps] == ["r", "a", "z", "y"]
    assert steps[1] == {"id": "a", "relation": "builds-on", "note": "from r"}
    result = cli("path", "u", "y", "--data", tmp_path)
    assert result.exit_code == 1 and "no lineage leads from u to y" in result.stderr
    result = cli("path", "y", "r", "--data", tmp_path)
    assert result.exit_code == 1 and "try evollm path r y" in result.stderr
    assert json.loads(cli("path", "z", "z", "--data", tmp_path, "--json").stdout) == [[{"id": "z", "relation": None, "note": ""}]]
    assert cli("path", "r", "nope", "--data", tmp_path).exit_code == 1


def test_cli_diff(cli):
    data = json.loads(cli("diff", "enc-2", "hybrid", "--data", MINI, "--json").stdout)
    assert data["adds"] == ["rotary"] and data["drops"] == [] and data["common_ancestor"] == "enc-2"
    result = cli("diff", "dec-2", "enc", "--data", MINI)
    assert result.exit_code == 0 and "Attn (attn)" in result.stdout


def test_cli_uses_marks_first_adopter(cli):
    data = json.loads(cli("uses", "rotary", "--data", MINI, "--json").stdout)
    assert [(d["id"], d["first"]) for d in data] == [("dec-2", True), ("hybrid", False)]
    result = cli("uses", "enc", "--data", MINI)
    assert result.exit_code == 1 and "No entry lists enc" in result.stderr  # no match: exit 1 (issue 17 §5)


def test_cli_learn(cli):
    data = json.loads(cli("learn", "hybrid", "--data", MINI, "--json").stdout)
    assert [d["id"] for d in data] == ["attn", "dec", "enc", "dec-2", "enc-2", "hybrid"]
    assert data[0]["why"].startswith("Dec-1 builds-on it")
    assert [d["id"] for d in json.loads(cli("learn", "hybrid", "--max", "2", "--data", MINI, "--json").stdout)] == ["enc-2", "hybrid"]  # nearest, latest first
    assert cli("learn", "hybrid", "--max", "0", "--data", MINI).exit_code == 2


def test_show_counts_influence_and_adoption(cli):
    data = json.loads(cli("show", "rotary", "--data", MINI, "--json").stdout)
    assert data["adopted_by"] == ["dec-2", "hybrid"] and data["influenced"] == 0
    result = cli("show", "rotary", "--data", MINI)
    assert "adopted by 2" in result.stdout
