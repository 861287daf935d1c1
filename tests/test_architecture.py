"""The shape of the package: imports go one way (no cycle), and a cached `Record` carries the same
index fields as the parsed `Entry` it came from."""

import ast
from pathlib import Path

import pytest

from conftest import MINI

PACKAGE = Path(__file__).resolve().parent.parent / "evollm"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The evollm modules `path` imports anywhere (at the top, inside functions, under `if`)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            # `from evollm import query` imports the module evollm.query; `from evollm.kb import x` imports evollm.kb
            targets = [f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in known else origin for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in known and t != name)
    return found


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: imported_modules(path, set(files)) for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_import_graph_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "evollm" / "x.py"
    source.parent.mkdir()
    source.write_text("def f():\n    from evollm import y\n    import evollm.z\n", encoding="utf-8")
    global PACKAGE
    saved, PACKAGE = PACKAGE, tmp_path / "evollm"
    try:
        assert imported_modules(source, {"evollm.x", "evollm.y", "evollm.z"}) == {"evollm.y", "evollm.z"}
    finally:
        PACKAGE = saved


def test_evollm_imports_have_no_cycle():
    graph = import_graph()
    assert "evollm.cli.common" in graph["evollm.cli.read"]  # the walk sees the command modules' imports
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_command_module_imports_the_cli_package():
    graph = import_graph()
    for name, imports in graph.items():
        if name.startswith("evollm.cli."):
            assert "evollm.cli" not in imports, f"{name} imports its importer evollm.cli"


# --- Record and Entry ---------------------------------------------------------------------------


def _loaded(data):
    """(the knowledge base read back from the cache, the one parsed from the files) of `data`."""
    from evollm.kb import load_knowledge_base

    fresh = load_knowledge_base(data, use_cache=False)
    load_knowledge_base(data, use_cache=True)  # writes the cache
    return load_knowledge_base(data, use_cache=True), fresh  # reads it back


def _index_value(kb, item, field):
    """What index field `field` stands for in `item` (a Record or an Entry), as plain data."""
    if field == "_pairs":  # the lineage without its notes
        return [[link.id, link.relation] for link in item.lineage]
    if field == "_offset":  # where the entry's full line starts: the whole entry read from there
        return item.model_dump(mode="json")
    if field == "_file":  # the number of the entry's file: the file it names
        return str(kb.paths[item.id])
    return _plain(getattr(item, field))


@pytest.mark.parametrize("data", [MINI, None], ids=["fixture", "shipped"])
def test_every_index_field_of_a_cached_record_equals_its_entry(data):
    from evollm.models import Entry
    from evollm.record import INDEX_FIELDS, Record

    cached, fresh = _loaded(data)
    assert len(cached) == len(fresh) > 0
    for entry_id, entry in fresh.entries.items():
        record = cached.entries[entry_id]
        assert isinstance(record, Record) and isinstance(entry, Entry), "the second load was not from the cache"
        for field in INDEX_FIELDS:
            assert _index_value(cached, record, field) == _index_value(fresh, entry, field), f"{entry_id}: {field}"


def _plain(value):
    """A field's value as plain data, so a Record's tuples and dicts compare with an Entry's models."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
