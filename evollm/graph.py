"""Pure lineage queries over a KnowledgeBase: nothing here prints or reads files.

Lineage is a DAG (an entry may have several parents). Trees drawn from it show an entry reached a
second time as a marked leaf (`repeat=True`) instead of repeating its subtree.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evollm.kb import KnowledgeBase


@dataclass
class TreeNode:
    id: str
    relation: str | None = None  # how this node relates to the node above it
    note: str = ""
    repeat: bool = False  # already drawn elsewhere in this tree: subtree left out
    cut: bool = False  # has more below, left out by --depth
    children: list[TreeNode] = field(default_factory=list)


def parents_of(kb: KnowledgeBase, entry_id: str) -> list[str]:
    return [p.id for p in kb.entries[entry_id].lineage]


def children_of(kb: KnowledgeBase, entry_id: str) -> list[str]:
    return [child for child, _ in kb.children(entry_id)]


def _walk(kb: KnowledgeBase, start: str, step, depth: int | None) -> dict[str, int]:
    """Breadth-first distances from `start` along `step` (excluding start)."""
    seen: dict[str, int] = {}
    queue = deque([(start, 0)])
    while queue:
        node, dist = queue.popleft()
        if depth is not None and dist >= depth:
            continue
        for nxt in step(kb, node):
            if nxt not in seen and nxt != start:
                seen[nxt] = dist + 1
                queue.append((nxt, dist + 1))
    return seen


def ancestors(kb: KnowledgeBase, entry_id: str, depth: int | None = None) -> list[str]:
    """Every ancestor of `entry_id` (up to `depth` steps), oldest first."""
    found = _walk(kb, entry_id, parents_of, depth)
    return [i for i in kb.entries if i in found]


def descendants(kb: KnowledgeBase, entry_id: str, depth: int | None = None) -> list[str]:
    """Every descendant of `entry_id` (up to `depth` steps), oldest first."""
    found = _walk(kb, entry_id, children_of, depth)
    return [i for i in kb.entries if i in found]


def build_tree(
    kb: KnowledgeBase,
    root: str,
    *,
    upward: bool = False,
    depth: int | None = None,
    within: set[str] | None = None,
    drawn: set[str] | None = None,
) -> TreeNode:
    """The tree of descendants (or ancestors, `upward`) of `root`.

    `within` restricts the tree to those ids (a family); `drawn` is shared between the trees of
    one forest so an entry appears in full once and marked elsewhere.
    """
    drawn = set() if drawn is None else drawn
    top = TreeNode(root)
    stack = [(top, 0)]
    while stack:  # pre-order, the order the tree is printed in
        node, level = stack.pop()
        if node.id in drawn:
            node.repeat = True
            continue
        drawn.add(node.id)
        links = _links(kb, node.id, upward)
        if within is not None:
            links = [link for link in links if link[0] in within]
        if depth is not None and level >= depth:
            node.cut = bool(links)
            continue
        node.children = [TreeNode(other, relation, note) for other, relation, note in links]
        stack.extend((child, level + 1) for child in reversed(node.children))
    return top


def _links(kb: KnowledgeBase, entry_id: str, upward: bool) -> list[tuple[str, str, str]]:
    """(other id, relation, note) for the parents or children of an entry, in date order."""
    if upward:
        links = [(p.id, p.relation, p.note) for p in kb.entries[entry_id].lineage]
    else:
        links = [(child, p.relation, p.note) for child, p in kb.children(entry_id)]
    order = {entry_id: i for i, entry_id in enumerate(kb.entries)}
    return sorted(links, key=lambda link: order[link[0]])


def family_members(kb: KnowledgeBase, family: str) -> list[str]:
    """Ids of the family's members in date order; matching is case- and punctuation-insensitive."""
    from evollm.kb import normalize

    wanted = normalize(family)
    return [e.id for e in kb if e.family and normalize(e.family) == wanted]


def family_forest(kb: KnowledgeBase, family: str) -> list[TreeNode]:
    """The family as trees: from its oldest member, then from any member with no parent inside it."""
    members = family_members(kb, family)
    within = set(members)
    drawn: set[str] = set()
    forest = []
    for member in members:
        if member in drawn:
            continue
        if forest and any(p in within for p in parents_of(kb, member)):
            continue  # reached from a root later in date order than itself: drawn there
        forest.append(build_tree(kb, member, within=within, drawn=drawn))
    # Members only reachable from a younger root (rare) are drawn as their own trees.
    for member in members:
        if member not in drawn:
            forest.append(build_tree(kb, member, within=within, drawn=drawn))
    return forest
