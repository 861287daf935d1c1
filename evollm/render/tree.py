"""Family trees and lineage trees, drawn with the usual guides (├── └── │)."""

from __future__ import annotations

from evollm.graph import TreeNode
from evollm.render.styled import Styled


def _label(out: Styled, node: TreeNode, entries) -> None:
    entry = entries[node.id]
    if node.relation:
        out.add(f"{node.relation} ", "magenta")
    out.add(entry.name, "bold")
    out.add(f" ({entry.date[:7]})", "dim")
    if node.repeat:
        out.add("  ↑ also under another parent", "yellow")
    if node.cut:
        out.add("  …", "dim")
    out.end()


def node_label(node: TreeNode, entries) -> Styled:
    """One node's line as `lineage_tree` draws it, without the guides (for interactive trees)."""
    out = Styled()
    _label(out, node, entries)
    return out


def lineage_tree(forest: list[TreeNode], entries, title: str) -> Styled:
    """Draw each tree of `forest`; `entries` maps id -> Entry."""
    out = Styled()
    if not forest:
        return out.add("No entries.", "dim").end()
    out.add(title, "bold underline").end()
    for root in forest:
        _label(out, root, entries)
        # (node, prefix for its children's lines); iterative, so deep lineages cannot overflow
        stack = [(child, "", i == len(root.children) - 1) for i, child in reversed(list(enumerate(root.children)))]
        while stack:
            node, prefix, last = stack.pop()
            out.add(prefix + ("└── " if last else "├── "), "dim")
            _label(out, node, entries)
            below = prefix + ("    " if last else "│   ")
            kids = node.children
            stack.extend((child, below, i == len(kids) - 1) for i, child in reversed(list(enumerate(kids))))
    return out
