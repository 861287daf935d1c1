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
    link: object = None  # the lineage link behind `relation` (its note is read only if shown)
    repeat: bool = False  # already drawn elsewhere in this tree: subtree left out
    cut: bool = False  # has more below, left out by --depth
    children: list[TreeNode] = field(default_factory=list)

    @property
    def note(self) -> str:
        return self.link.note if self.link is not None else ""


def parents_of(kb: KnowledgeBase, entry_id: str) -> list[str]:
    return kb.entries[entry_id].parent_ids()


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
        node.children = [TreeNode(other, link.relation, link) for other, link in links]
        stack.extend((child, level + 1) for child in reversed(node.children))
    return top


def _links(kb: KnowledgeBase, entry_id: str, upward: bool) -> list[tuple[str, object]]:
    """(other id, lineage link) for the parents or children of an entry, in date order."""
    if upward:
        links = [(p.id, p) for p in kb.entries[entry_id].lineage]
    else:
        links = kb.children(entry_id)
    order = kb.position()
    return sorted(links, key=lambda link: order[link[0]])


def family_members(kb: KnowledgeBase, family: str) -> list[str]:
    """Ids of the family's members in date order; matching is case- and punctuation-insensitive."""
    from evollm.kb import normalize

    wanted = normalize(family)
    spellings = [members for name, members in kb.families().items() if normalize(name) == wanted]
    if len(spellings) == 1:
        return list(spellings[0])
    order = kb.position()
    return sorted((i for members in spellings for i in members), key=order.__getitem__)


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


def whole_forest(kb: KnowledgeBase) -> list[TreeNode]:
    """Every entry once in full: a tree from each root (an entry with no parents), oldest first."""
    drawn: set[str] = set()
    return [build_tree(kb, e.id, drawn=drawn) for e in kb if not e.lineage]


# --- paths, common ancestors, reading orders --------------------------------------------------


def shortest_path(kb: KnowledgeBase, start: str, goal: str) -> list[str] | None:
    """The shortest chain start -> ... -> goal following parent-to-child links, or None.

    Ties are broken by date order: among equally short chains, the one whose steps come
    earliest (compared step by step) wins, so the answer never depends on file order.
    """
    if start == goal:
        return [start]
    order = kb.position()
    # Distances to goal walking upward; then walk down from start choosing the earliest child
    # that is one step closer. This yields the lexicographically smallest shortest path.
    to_goal = {goal: 0, **_walk(kb, goal, parents_of, None)}
    if start not in to_goal:
        return None
    path = [start]
    while path[-1] != goal:
        here = to_goal[path[-1]]
        step = min((c for c in children_of(kb, path[-1]) if to_goal.get(c) == here - 1), key=order.__getitem__)
        path.append(step)
    return path


MAX_PATHS = 100  # chains `path --all` lists at most
SEARCH_STEPS = 100_000  # steps of the search for chains: a dense knowledge base holds astronomically many


def all_paths(kb: KnowledgeBase, start: str, goal: str, limit: int = 50) -> tuple[list[list[str]], bool]:
    """Every chain start -> goal (shortest first, then by date order), at most `limit` (itself at
    most MAX_PATHS); and whether more exist than were returned.

    The search takes at most SEARCH_STEPS steps, and a chain on the stack is a linked list
    (node, rest) shared with its siblings, not a copy: memory stays proportional to the steps
    (an 800-entry ladder took 13.9 GB when each step copied its chain)."""
    limit = min(limit, MAX_PATHS)
    if start == goal:
        return [[start]], False
    order = kb.position()
    can_reach = {goal, *_walk(kb, goal, parents_of, None)}
    if start not in can_reach:
        return [], False
    found: list[list[str]] = []
    budget = SEARCH_STEPS
    stack: list[tuple] = [(start, None)]
    truncated = False
    while stack:
        budget -= 1
        if budget < 0 or len(found) >= 10 * limit:
            truncated = True
            break
        link = stack.pop()
        if link[0] == goal:
            path = []
            while link is not None:
                path.append(link[0])
                link = link[1]
            found.append(path[::-1])
            continue
        nxt = sorted((c for c in children_of(kb, link[0]) if c in can_reach), key=order.__getitem__, reverse=True)
        stack.extend((c, link) for c in nxt)
    found.sort(key=lambda p: (len(p), [order[i] for i in p]))
    return found[:limit], truncated or len(found) > limit


def chain_steps(kb: KnowledgeBase, chain: list[str]) -> list[tuple[str, str | None, str]]:
    """[(id, relation to the previous id, note)] along a parent-to-child chain."""
    steps: list[tuple[str, str | None, str]] = [(chain[0], None, "")]
    for parent, child in zip(chain, chain[1:]):
        link = next(p for p in kb.entries[child].lineage if p.id == parent)
        steps.append((child, link.relation, link.note))
    return steps


def nearest_common_ancestor(kb: KnowledgeBase, a: str, b: str) -> str | None:
    """The shared ancestor (an entry counts as its own) closest to both; ties: latest, then id."""
    dist_a = {a: 0, **_walk(kb, a, parents_of, None)}
    dist_b = {b: 0, **_walk(kb, b, parents_of, None)}
    shared = set(dist_a) & set(dist_b)
    if not shared:
        return None
    order = kb.position()
    return min(shared, key=lambda i: (dist_a[i] + dist_b[i], -order[i], i))


def reading_order(kb: KnowledgeBase, target: str, limit: int | None = None) -> list[str]:
    """`target`'s ancestors, each before every entry that builds on it, ending with `target`.

    With `limit`, keep the `limit - 1` nearest ancestors (by generations, then latest first).
    """
    dist = _walk(kb, target, parents_of, None)
    order = kb.position()
    chosen = sorted(dist, key=lambda i: (dist[i], -order[i], i))
    if limit is not None:
        chosen = chosen[: max(0, limit - 1)]
    keep = set(chosen) | {target}
    # Kahn's algorithm over every ancestor, always taking the earliest-dated ready entry, then
    # filtered to `keep`: an order of the whole set also respects chains through dropped entries.
    import heapq

    every = set(dist) | {target}
    waiting = {i: sum(1 for p in parents_of(kb, i) if p in every) for i in every}
    ready = [(order[i], i) for i, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    out = []
    while ready:
        _, node = heapq.heappop(ready)
        out.append(node)
        for child in children_of(kb, node):
            if child in every:
                waiting[child] -= 1
                if waiting[child] == 0:
                    heapq.heappush(ready, (order[child], child))
    return [i for i in out if i in keep]


# --- answers: what the lineage commands show, each with its JSON shape --------------------------


def _entry_json(entry) -> dict:
    return entry.model_dump(mode="json", exclude_none=True)


def node_json(node: TreeNode) -> dict:
    """A tree as nested {id, relation, repeat, children} (iterative: a deep chain cannot overflow)."""
    out = {"id": node.id, "relation": node.relation, "repeat": node.repeat, "children": []}
    stack = [(node, out)]
    while stack:
        current, target = stack.pop()
        for child in current.children:
            child_out = {"id": child.id, "relation": child.relation, "repeat": child.repeat, "children": []}
            target["children"].append(child_out)
            stack.append((child, child_out))
    return out


@dataclass(frozen=True)
class Forest:
    """`tree`'s answer: one or more trees and their title."""

    trees: list[TreeNode]
    title: str

    def to_json(self) -> list[dict]:
        return [node_json(node) for node in self.trees]


@dataclass(frozen=True)
class Paths:
    """`path`'s answer: chains of (id, relation, note) steps; `more` if the limit cut some off."""

    steps: list[list[tuple[str, str | None, str]]]
    more: bool

    def to_json(self) -> list[list[dict]]:
        return [[{"id": i, "relation": r, "note": n} for i, r, n in chain] for chain in self.steps]


@dataclass(frozen=True)
class Diff:
    """`diff`'s answer: the techniques B uses that A does not (adds) and the reverse (drops)."""

    a: object
    b: object
    adds: list[str]
    drops: list[str]
    common_ancestor: str | None

    def to_json(self) -> dict:
        return {"a": _entry_json(self.a), "b": _entry_json(self.b), "adds": self.adds, "drops": self.drops,
                "common_ancestor": self.common_ancestor}


def diff(kb: KnowledgeBase, a, b) -> Diff:
    return Diff(a, b, adds=[u for u in b.uses if u not in a.uses], drops=[u for u in a.uses if u not in b.uses],
                common_ancestor=nearest_common_ancestor(kb, a.id, b.id))


@dataclass(frozen=True)
class Adoption:
    """`uses`'s answer: a technique and the entries that list it in `uses`, oldest first."""

    technique: object
    adopters: list

    def to_json(self) -> list[dict]:
        return [{"id": e.id, "name": e.name, "date": e.date, "first": i == 0} for i, e in enumerate(self.adopters)]


def adoption(kb: KnowledgeBase, technique) -> Adoption:
    return Adoption(technique, kb.adopters(technique.id))


@dataclass(frozen=True)
class ReadingList:
    """`learn`'s answer: (entry, why it is on the list) in reading order, the target last."""

    target: object
    items: list[tuple[object, str]]

    def to_json(self) -> list[dict]:
        return [{**_entry_json(e), "why": why} for e, why in self.items]


def reading_list(kb: KnowledgeBase, target, limit: int | None = None) -> ReadingList:
    order = reading_order(kb, target.id, limit)
    return ReadingList(target, [(kb.entries[i], why_read(kb, i, order)) for i in order])


def why_read(kb: KnowledgeBase, entry_id: str, order: list[str]) -> str:
    """Why an entry is on a reading list: what a later entry on the list took from it."""
    later = set(order[order.index(entry_id) + 1:])
    for child, link in kb.children(entry_id):
        if child in later and link.note:
            return f"{kb.entries[child].name} {link.relation} it: {link.note}"
    entry = kb.entries[entry_id]
    return entry.key_ideas[0] if entry.key_ideas else ""
