from evollm import graph
from evollm.kb import load_knowledge_base

from conftest import MINI


def kb():
    return load_knowledge_base(MINI)


def flatten(node, depth=0):
    yield depth, node.id, node.relation, node.repeat
    for child in node.children:
        yield from flatten(child, depth + 1)


def test_ancestors_and_descendants_of_a_diamond():
    k = kb()
    assert graph.ancestors(k, "hybrid") == ["attn", "dec", "enc", "dec-2", "enc-2"]
    assert graph.descendants(k, "attn") == ["rotary", "dec", "enc", "dec-2", "enc-2", "hybrid"]
    assert graph.descendants(k, "attn", depth=1) == ["rotary", "dec", "enc"]
    assert graph.descendants(k, "loner") == []


def test_tree_marks_second_parent_without_repeating_subtree():
    rows = list(flatten(graph.build_tree(kb(), "attn")))
    hybrids = [r for r in rows if r[1] == "hybrid"]
    assert [r[3] for r in hybrids] == [False, True]  # full once (under dec-2, first in date order), marked once
    assert rows[0] == (0, "attn", None, False)
    assert (1, "dec", "builds-on", False) in rows


def test_tree_depth_cut():
    top = graph.build_tree(kb(), "attn", depth=1)
    assert [c.id for c in top.children] == ["rotary", "dec", "enc"]
    assert all(not c.children for c in top.children)
    assert [c.cut for c in top.children] == [False, True, True]


def test_ancestor_tree():
    rows = list(flatten(graph.build_tree(kb(), "hybrid", upward=True)))
    assert [r[1] for r in rows] == ["hybrid", "dec-2", "dec", "attn", "enc-2", "enc", "attn"]
    assert rows[-1][3] is True


def test_family_forest_from_oldest_member():
    forest = graph.family_forest(kb(), "ENC")
    assert [t.id for t in forest] == ["enc"]
    assert [r[1] for r in flatten(forest[0])] == ["enc", "enc-2", "hybrid"]
    assert graph.family_members(kb(), "dec") == ["dec", "dec-2"]


def test_every_member_drawn_exactly_once_unmarked():
    k = kb()
    for family in k.families():
        rows = [r for tree in graph.family_forest(k, family) for r in flatten(tree)]
        unmarked = sorted(r[1] for r in rows if not r[3])
        assert unmarked == sorted(graph.family_members(k, family))
