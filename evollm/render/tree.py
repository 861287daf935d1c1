"""Family trees and lineage trees as rich Trees."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from rich.tree import Tree

from evollm.graph import TreeNode


def _label(node: TreeNode, entries) -> Text:
    entry = entries[node.id]
    text = Text()
    if node.relation:
        text.append(f"{node.relation} ", style="magenta")
    text.append(entry.name, style="bold")
    text.append(f" ({entry.date[:7]})", style="dim")
    if node.repeat:
        text.append("  ↑ also under another parent", style="yellow")
    if node.cut:
        text.append("  …", style="dim")
    return text


def lineage_tree(forest: list[TreeNode], entries, title: str) -> Group:
    """Draw each tree of `forest`; `entries` maps id -> Entry."""
    if not forest:
        return Group(Text("No entries.", style="dim"))
    trees = []
    for root in forest:
        tree = Tree(_label(root, entries), guide_style="dim")
        stack = [(root, tree)]
        while stack:
            node, branch = stack.pop()
            added = [(child, branch.add(_label(child, entries))) for child in node.children]
            stack.extend(reversed(added))
        trees.append(tree)
    return Group(Text(title, style="bold underline"), *trees)
