"""Lineage as graph text: Mermaid flowcharts and Graphviz DOT, clustered by architecture.

`GRAPH_FORMATS[name](kb, forest, title) -> str` draws the trees `evollm tree` builds. Edges always
point from parent to child (an ancestor tree is walked upward, but time still flows downward), an
entry reached twice gets its second edge and no second box, and nodes are grouped in boxes by
architecture like the evolutionary tree of Yang et al. 2023 (arXiv 2304.13712).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from evollm.graph import TreeNode

# Architectures drawn as clusters, in this order, with a title and a fill colour each.
CLUSTERS = {
    "encoder": ("Encoder-only", "#fbe4ec", "#d98aa6"),
    "encoder-decoder": ("Encoder-decoder", "#e2f3e4", "#7fb98a"),
    "decoder": ("Decoder-only", "#e3ecfa", "#8aa8d8"),
    "hybrid": ("Hybrid", "#fdf0dc", "#d9a75e"),
    "state-space": ("State-space", "#efe6f7", "#a58bc4"),
}


@dataclass
class Drawing:
    """The nodes (pre-order, each once) and parent-to-child edges of a forest."""

    nodes: list[str] = field(default_factory=list)
    edges: list[tuple[str, str, str, str]] = field(default_factory=list)  # (parent, child, relation, note)
    cut: set[str] = field(default_factory=set)  # nodes with more below, left out by --depth


def collect(kb, forest: list[TreeNode]) -> Drawing:
    """Flatten a forest into unique nodes and edges, each edge oriented parent -> child."""
    drawing = Drawing()
    seen_nodes: set[str] = set()
    seen_edges: set[tuple[str, str]] = set()
    stack = [(root, None) for root in reversed(forest)]
    while stack:
        node, above = stack.pop()
        if node.id not in seen_nodes:
            seen_nodes.add(node.id)
            drawing.nodes.append(node.id)
        if node.cut:
            drawing.cut.add(node.id)
        if above is not None:
            # Below a node sits either its child (descendant trees) or its parent (ancestor trees).
            child_below = any(p.id == above for p in kb.entries[node.id].lineage)
            parent, child = (above, node.id) if child_below else (node.id, above)
            if (parent, child) not in seen_edges:
                seen_edges.add((parent, child))
                drawing.edges.append((parent, child, node.relation or "", node.note))
        stack.extend((kid, node.id) for kid in reversed(node.children))
    return drawing


def node_ids(ids: list[str]) -> dict[str, str]:
    """Entry id -> an identifier both DOT and Mermaid accept unquoted (e_gpt_3_5 for gpt-3.5).

    The prefix keeps ids from starting with a digit or being a keyword (Mermaid's `end`).
    """
    out: dict[str, str] = {}
    taken: set[str] = set()
    for entry_id in ids:
        base = "e_" + re.sub(r"[^A-Za-z0-9]", "_", entry_id)
        safe, n = base, 2
        while safe in taken:  # gpt-3.5 and gpt-3-5 would share a name
            safe, n = f"{base}_{n}", n + 1
        taken.add(safe)
        out[entry_id] = safe
    return out


def _groups(kb, drawing: Drawing) -> tuple[dict[str, list[str]], list[str]]:
    """Nodes by clustered architecture, and the nodes outside every cluster."""
    groups: dict[str, list[str]] = {arch: [] for arch in CLUSTERS}
    loose = []
    for entry_id in drawing.nodes:
        arch = kb.entries[entry_id].architecture
        (groups[arch] if arch in groups else loose).append(entry_id)
    return {arch: ids for arch, ids in groups.items() if ids}, loose


# --- Graphviz DOT -----------------------------------------------------------------------------


def _dot_string(text: str) -> str:
    """A DOT double-quoted string: backslashes and quotes escaped, newlines as \\n."""
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + text.replace("\r", "").replace("\n", "\\n") + '"'


def to_dot(kb, forest: list[TreeNode], title: str) -> str:
    drawing = collect(kb, forest)
    ids = node_ids(drawing.nodes)
    groups, loose = _groups(kb, drawing)
    lines = [
        "digraph evollm {",
        f"  graph [label={_dot_string(title)}, labelloc=t, fontsize=20, fontname=\"Helvetica\", "
        "rankdir=TB, nodesep=0.25, ranksep=0.45];",
        '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", color="#555555", '
        'fontname="Helvetica", fontsize=11];',
        '  edge [color="#777777", fontname="Helvetica", fontsize=9, fontcolor="#555555", arrowsize=0.7];',
    ]

    def node_line(entry_id: str, indent: str) -> str:
        entry = kb.entries[entry_id]
        label = f"{entry.name}\n{entry.date[:7]}" + ("\n…" if entry_id in drawing.cut else "")
        attrs = [f"label={_dot_string(label)}", f"tooltip={_dot_string(entry.title)}"]
        from evollm.text import safe_url

        url = safe_url(entry.links.get("paper") or next(iter(entry.links.values()), None))
        if url:
            attrs.append(f"URL={_dot_string(url)}")
        if entry_id in drawing.cut:
            attrs.append('style="rounded,filled,dashed"')
        return f"{indent}{ids[entry_id]} [{', '.join(attrs)}];"

    for arch, members in groups.items():
        heading, fill, border = CLUSTERS[arch]
        lines.append(f"  subgraph cluster_{arch.replace('-', '_')} {{")
        lines.append(f'    label={_dot_string(heading)}; style="rounded,filled"; fillcolor="{fill}"; '
                     f'color="{border}"; fontsize=14;')
        lines.extend(node_line(entry_id, "    ") for entry_id in members)
        lines.append("  }")
    lines.extend(node_line(entry_id, "  ") for entry_id in loose)
    for parent, child, relation, note in drawing.edges:
        attrs = [f"label={_dot_string(relation)}"]
        if note:
            attrs.append(f"tooltip={_dot_string(note)}")
        lines.append(f"  {ids[parent]} -> {ids[child]} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


# --- Mermaid ----------------------------------------------------------------------------------

# Mermaid reads labels as HTML and gives '#' a meaning, and `%%{init: ...}%%` anywhere is a
# directive (themeCSS and all): write these as its entity codes instead.
_MERMAID_ENTITIES = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "&": "#amp;", "`": "#96;",
                     "%": "#37;", "{": "#123;", "}": "#125;", "'": "#39;"}
_MERMAID_SPECIAL = re.compile("|".join(re.escape(c) for c in _MERMAID_ENTITIES))


def _mermaid_text(text: str) -> str:
    text = " ".join(text.split())  # a label is one line; our own <br/> breaks it
    return _MERMAID_SPECIAL.sub(lambda m: _MERMAID_ENTITIES[m.group()], text)


def to_mermaid(kb, forest: list[TreeNode], title: str) -> str:
    drawing = collect(kb, forest)
    ids = node_ids(drawing.nodes)
    groups, loose = _groups(kb, drawing)
    # The title goes in YAML front matter: a JSON string is a valid YAML double-quoted scalar;
    # what could start a directive or a tag is written as a \u escape.
    yaml_title = json.dumps(" ".join(title.split()), ensure_ascii=False)
    for char in "<>%{}'":
        yaml_title = yaml_title.replace(char, f"\\u{ord(char):04x}")
    lines = ["---", f"title: {yaml_title}", "---", "flowchart TB"]

    def node_line(entry_id: str, indent: str) -> str:
        entry = kb.entries[entry_id]
        label = f"{_mermaid_text(entry.name)}<br/>{entry.date[:7]}" + ("<br/>…" if entry_id in drawing.cut else "")
        return f'{indent}{ids[entry_id]}["{label}"]'

    for arch, members in groups.items():
        lines.append(f'  subgraph arch_{arch.replace("-", "_")} ["{CLUSTERS[arch][0]}"]')
        lines.extend(node_line(entry_id, "    ") for entry_id in members)
        lines.append("  end")
    lines.extend(node_line(entry_id, "  ") for entry_id in loose)
    for parent, child, relation, _ in drawing.edges:
        label = f'|"{_mermaid_text(relation)}"|' if relation else ""
        lines.append(f"  {ids[parent]} -->{label} {ids[child]}")
    for arch in groups:
        _, fill, border = CLUSTERS[arch]
        lines.append(f"  style arch_{arch.replace('-', '_')} fill:{fill},stroke:{border}")
    if drawing.cut:
        lines.append("  classDef cut stroke-dasharray: 4 3")
        lines.append("  class " + ",".join(ids[i] for i in drawing.nodes if i in drawing.cut) + " cut")
    return "\n".join(lines) + "\n"


GRAPH_FORMATS: dict[str, Callable[..., str]] = {"mermaid": to_mermaid, "dot": to_dot}
