"""Find, read, validate and index the knowledge base.

`load_knowledge_base()` returns a `KnowledgeBase` or raises `InvalidKnowledgeBase` listing every
problem at once as `path:line: field: message`. YAML is read with the safe loader only (no tag can
construct an object), files are capped in size and in how many nodes their aliases expand to, and
links that leave the data folder are not followed.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from typing import TYPE_CHECKING

from evollm.errors import InvalidKnowledgeBase, NotFound, Problem

if TYPE_CHECKING:
    from evollm.models import Entry, Parent

MAX_FILE_BYTES = 256 * 1024  # a generous entry is ~6 KB
MAX_NODES = 20_000  # YAML nodes one file may expand to, aliases counted each time they are used
MAX_DEPTH = 1_000  # levels of nesting (recent libyaml stops there too; older ones do not)


def _package_data() -> Path:
    here = Path(__file__).resolve().parent
    shipped = here / "data" / "papers"  # inside an installed wheel
    return shipped if shipped.is_dir() else here.parent / "data" / "papers"  # a source checkout


def expand_user(path: Path | str, what: str) -> Path:
    """`path` with a leading ~ or ~name expanded; UsageError (exit 2) for a user with no home."""
    try:
        return Path(path).expanduser()
    except RuntimeError:  # ~nouser/x: pathlib cannot tell where that is
        from evollm.errors import UsageError
        from evollm.text import visible

        raise UsageError(f"{what} {visible(str(path))!r} starts with ~ but names no user with a home folder") from None


def user_home() -> Path:
    """The user's own evollm folder: $EVOLLM_HOME, else $XDG_DATA_HOME/evollm."""
    if os.environ.get("EVOLLM_HOME"):
        return expand_user(os.environ["EVOLLM_HOME"], "EVOLLM_HOME")
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "evollm"


def user_papers() -> Path:
    return user_home() / "papers"


def data_dirs(data: Path | None = None) -> list[Path]:
    """Where entries come from, later folders overriding earlier ones by id.

    `--data DIR` (or $EVOLLM_DATA) replaces everything with DIR; otherwise the shipped entries
    are extended, and corrected, by the user's own.
    """
    if data is None and os.environ.get("EVOLLM_DATA"):
        data = Path(os.environ["EVOLLM_DATA"])
    if data is not None:
        return [expand_user(data, "the data folder")]
    return [_package_data(), user_papers()]


_NOT_ALNUM = re.compile(r"[^a-z0-9]")


def normalize(name: str) -> str:
    """The key names are compared by: "GPT-2", "gpt2" and "Gpt 2" are one name; "通义千问" and
    "ГигаЧат" stay apart (case folded after NFKC, letters, digits and marks of every script kept)."""
    if name.isascii():
        return _NOT_ALNUM.sub("", name.casefold())
    import unicodedata

    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    category = unicodedata.category
    return "".join(c for c in folded if category(c)[0] in "LNM")


@dataclass
class KnowledgeBase:
    entries: dict[str, "Entry"]  # id -> entry, sorted by (date, id)
    paths: dict[str, Path]  # id -> the file it came from
    overridden: set[str] = field(default_factory=set)  # ids a user entry corrected
    warnings: list[Problem] = field(default_factory=list)
    _position: dict[str, int] | None = None
    _families: dict[str, list[str]] | None = None
    _indexes: dict[str, dict] = field(default_factory=dict)  # name_index & co., built on first use
    _stored: object = None  # cache.Stored: those indexes as the cache holds them, or None

    def _index(self, part: str, build) -> dict:
        """The index `part`: memoized, read from the cache when it has it, else `build()`."""
        index = self._indexes.get(part)
        if index is None:
            index = self._stored.part(part) if self._stored is not None else None
            self._indexes[part] = index = build() if index is None else index
        return index

    def token_index(self):
        """The cache's search index (cache.TokenIndex), or None: then search scans the text."""
        return self._stored.tokens() if self._stored is not None else None

    def name_index(self) -> dict[str, str]:
        """Normalized id, alias or name -> id."""
        def build() -> dict[str, str]:
            names = {}
            for entry in self.entries.values():
                for key in (entry.name, *entry.aliases, entry.id):  # id wins over alias over name
                    names[normalize(key)] = entry.id
            return names

        return self._index("names", build)

    def children_index(self) -> dict[str, list[list]]:
        """Parent id -> [child id, index of the link in the child's lineage] for each child, in date order."""
        def build() -> dict[str, list[list]]:
            children: dict[str, list[list]] = {}
            for entry in self.entries.values():
                for i, parent_id in enumerate(entry.parent_ids()):
                    children.setdefault(parent_id, []).append([entry.id, i])  # lists, as in the cache
            return children

        return self._index("children", build)

    def adopters_index(self) -> dict[str, list[str]]:
        """Id -> the entries whose `uses` name it, in date order."""
        def build() -> dict[str, list[str]]:
            adopters: dict[str, list[str]] = {}
            for entry in self.entries.values():
                for used in entry.uses:
                    adopters.setdefault(used, []).append(entry.id)
            return adopters

        return self._index("adopters", build)

    def adopters(self, entry_id: str) -> list["Entry"]:
        return [self.entries[i] for i in self.adopters_index().get(entry_id, [])]

    def position(self) -> dict[str, int]:
        """id -> rank in date order (for sorting ids by date without looking entries up)."""
        if self._position is None:
            self._position = {entry_id: i for i, entry_id in enumerate(self.entries)}
        return self._position

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator["Entry"]:
        return iter(self.entries.values())

    def resolve(self, query: str) -> "Entry":
        """The entry an id, alias or loose spelling names; NotFound with suggestions otherwise."""
        if query in self.entries:
            return self.entries[query]
        key = normalize(query)
        names = self.name_index()
        if key in names:
            return self.entries[names[key]]
        by_arxiv = self._by_arxiv(query)
        if by_arxiv is not None:
            return by_arxiv
        raise NotFound(f"no entry {query!r}{self._suggest(key)}")

    def _by_arxiv(self, query: str):
        """The entry of an arXiv id in any form (2305.18290, arXiv:2305.18290v2, the abs URL), or None."""
        from evollm.arxiv_ids import parse_arxiv_id
        from evollm.errors import UsageError

        try:
            arxiv_id = parse_arxiv_id(query)
        except UsageError:
            return None
        return next((entry for entry in self.entries.values() if entry.arxiv == arxiv_id), None)

    def close_ids(self, key: str) -> list[str]:
        """Ids whose names are spelled close to `key` (a normalized name), closest first."""
        import difflib

        names = self.name_index()
        close = difflib.get_close_matches(key, list(names), n=3, cutoff=0.6)
        return list(dict.fromkeys(names[c] for c in close))

    def _suggest(self, key: str) -> str:
        ids = self.close_ids(key)
        return f"; did you mean {' or '.join(repr(i) for i in ids)}?" if ids else ""

    def children(self, entry_id: str) -> list[tuple[str, "Parent"]]:
        """(child id, the child's lineage link) for each entry that names `entry_id` as parent."""
        return [(child, self.entries[child].lineage[i]) for child, i in self.children_index().get(entry_id, [])]

    def families(self) -> dict[str, list[str]]:
        """Family name -> member ids in date order."""
        if self._families is None:
            self._families = {}
            for entry in self.entries.values():
                if entry.family:
                    self._families.setdefault(entry.family, []).append(entry.id)
        return self._families


# ---------------------------------------------------------------------------------------------
# Reading files


def _entry_files(folder: Path) -> list[tuple[str, os.stat_result]]:
    """(path, stat) of the folder's *.yaml files in name order; links are followed only when
    they stay inside. One lstat a file serves both the link check and the cache key. Strings,
    not Paths: listing 10,000 files as Path objects alone costs 100 ms."""
    from stat import S_ISLNK, S_ISREG

    try:
        names = sorted(name for name in os.listdir(folder) if name.endswith(".yaml"))
    except (FileNotFoundError, NotADirectoryError):
        return []
    prefix, root, files, lstat = os.path.join(os.fspath(folder), ""), None, [], os.lstat
    for name in names:
        path = prefix + name
        try:
            info = lstat(path)
            if S_ISLNK(info.st_mode):
                root = root or folder.resolve()
                if not Path(path).resolve().is_relative_to(root):
                    continue
                info = os.stat(path)
        except RuntimeError:  # a symlink loop (pathlib's resolve): the file's problem, read_entry says so
            files.append((path, info))
            continue
        except OSError as exc:  # vanished, or a dangling link: not an entry
            if exc.errno == errno.ELOOP:
                files.append((path, info))  # a loop: reported by read_entry
            continue
        if S_ISREG(info.st_mode):
            files.append((path, info))
    return files


def _yaml_loader():
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _count_nodes(node, limit: int) -> int:
    """Nodes `node` expands to, aliases counted every time they are used; stops past `limit`.
    Raises ValueError past MAX_DEPTH levels of nesting."""
    count, stack = 0, [(node, 1)]
    while stack:
        current, depth = stack.pop()
        count += 1
        if count > limit:
            return count
        value = current.value
        if isinstance(value, list):
            if depth >= MAX_DEPTH:
                raise _TooDeep(current.start_mark.line + 1)
            for item in value:
                if isinstance(item, tuple):
                    stack.extend((part, depth + 1) for part in item)
                else:
                    stack.append((item, depth + 1))
    return count


class _TooDeep(Exception):
    def __init__(self, line: int):
        super().__init__(line)
        self.line = line


def _duplicate_key(node) -> tuple[str, int, int] | None:
    """(key, first line, second line) of a key written twice in one mapping, at any depth; YAML
    would keep the last silently (`links: {paper: a, paper: b}`)."""
    stack = [node]
    while stack:
        current = stack.pop()
        value = current.value
        if not isinstance(value, list):
            continue
        seen: dict[object, int] = {}
        for item in value:
            if not isinstance(item, tuple):
                stack.append(item)  # a sequence's item
                continue
            key, child = item
            stack.append(child)
            if isinstance(key.value, str):
                line = key.start_mark.line + 1
                if key.value in seen:
                    return key.value, seen[key.value], line
                seen[key.value] = line
    return None


def _line_of(node, loc: tuple) -> int | None:
    """The line of the YAML node at pydantic's error location, as deep as the file has it."""
    import yaml

    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, item in node.value:
                if key.value == part or key.value == str(part):
                    child, line = item, key.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line


def read_entry(path: Path, display: str) -> tuple[object | None, list[Problem]]:
    """Parse and validate one file: (Entry or None, problems)."""
    def problem(message: str) -> list[Problem]:
        return [Problem(display, None, "", message)]

    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, problem(f"file is {size} bytes; the limit is {MAX_FILE_BYTES}")
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, problem(f"not UTF-8 text (byte {exc.start})")
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None, problem("cannot read: a loop of symbolic links")
        return None, problem(f"cannot read: {exc.strerror}")
    return parse_entry(text, display, path.stem)


def parse_entry(text: str, display: str, stem: str) -> tuple[object | None, list[Problem]]:
    """Parse and validate the text of an entry file named `stem`.yaml: (Entry or None, problems).
    The one strict reading of an entry: files, and drafts before they are written."""
    import yaml
    from pydantic import ValidationError

    from evollm.models import Entry

    def problem(message: str, line: int | None = None, field_name: str = "") -> list[Problem]:
        return [Problem(display, line, field_name, message)]

    loader = _yaml_loader()(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, problem("empty file; expected a mapping of fields")
        try:
            if _count_nodes(node, MAX_NODES) > MAX_NODES:
                return None, problem(f"expands to more than {MAX_NODES} YAML nodes (aliases?)")
        except _TooDeep as exc:
            return None, problem(f"YAML: nested deeper than {MAX_DEPTH} levels", exc.line)
        duplicate = _duplicate_key(node)
        if duplicate:
            return None, problem(f"field {duplicate[0]!r} appears twice (the first at line {duplicate[1]})", duplicate[2])
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        return None, problem(f"YAML: {message}", mark.line + 1 if mark else None)
    except (yaml.YAMLError, RecursionError, ValueError, TypeError) as exc:
        return None, problem(f"YAML: {exc}")
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        return None, problem(f"expected a mapping of fields, got a {type(data).__name__}", 1)
    try:
        entry = Entry.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            loc = tuple(error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            named = re.match(r"^([a-z_]+): ", message)
            if named:  # a rule across fields names the field it blames
                loc, message = (*loc, named.group(1)), message[named.end():]
            where = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in loc).replace(".[", "[")
            if error["type"] == "extra_forbidden":
                message = "unknown field"
            elif error["type"] == "string_pattern_mismatch" and isinstance(error.get("input"), str):
                message = _control_message(error) or message
            problems += problem(message, _line_of(node, loc), where)
        return None, problems
    if entry.id != stem:
        return None, problem(f"id {entry.id!r} must equal the file name's stem {stem!r}",
                             _line_of(node, ("id",)), "id")
    return entry, []


def _control_message(error: dict) -> str | None:
    """What control or bidi character a string holds, for a mismatch of the schema's patterns
    that exclude them (models.PROSE, ONE_LINE, HttpUrl); None for other patterns."""
    from evollm.text import control_problem

    return control_problem(error["input"], one_line=error["ctx"]["pattern"] != _prose_pattern())


def _prose_pattern() -> str:
    from evollm.models import PROSE

    return PROSE


def _display(path: Path) -> str:
    """The path as a user would type it: relative to the working folder when inside it."""
    absolute, here = os.path.abspath(path), os.getcwd()
    return absolute[len(here) + 1:] if absolute.startswith(here + os.sep) else str(path)


# ---------------------------------------------------------------------------------------------
# Rules across entries


def cross_problems(entries: dict, paths: dict[str, Path], unreadable: set[str] = frozenset()) -> list[Problem]:
    """Unique names, resolvable ids, no cycles, parents not after children.

    Ids in `unreadable` (files that failed on their own) are not reported again as dangling.
    """
    problems: list[Problem] = []

    def add(entry_id: str, field_name: str, message: str) -> None:
        problems.append(Problem(_display(paths[entry_id]), None, field_name, message))

    seen: dict[str, str] = {}
    for entry in entries.values():
        keys = {normalize(entry.id): "id", **{normalize(a): "aliases" for a in entry.aliases}}
        for key, field_name in keys.items():
            other = seen.setdefault(key, entry.id)
            if other != entry.id:
                add(entry.id, field_name,
                    f"{key!r} clashes with entry {other!r} ({_display(paths[other])})")
    for entry in entries.values():
        for i, parent in enumerate(entry.lineage):
            if parent.id in unreadable:
                continue
            if parent.id not in entries:
                add(entry.id, f"lineage[{i}].id", f"no entry {parent.id!r}")
            elif parent.id == entry.id:
                add(entry.id, f"lineage[{i}].id", "an entry cannot be its own parent")
            elif entries[parent.id].month > entry.month:
                add(entry.id, f"lineage[{i}].id",
                    f"parent {parent.id!r} ({entries[parent.id].date}) is dated after this entry ({entry.date})")
        for i, used in enumerate(entry.uses):
            if used not in entries and used not in unreadable:
                add(entry.id, f"uses[{i}]", f"no entry {used!r}")
    for cycle in _cycles(entries):
        add(cycle[0], "lineage", "lineage cycle: " + " -> ".join([*cycle, cycle[0]]))
    return problems


def _cycles(entries: dict) -> list[list[str]]:
    """One cycle per strongly connected group of the parent graph (iterative: no recursion limit)."""
    colour = dict.fromkeys(entries, 0)  # 0 new, 1 on the current path, 2 done
    cycles = []
    for start in entries:
        if colour[start]:
            continue
        path, stack = [], [(start, iter(p.id for p in entries[start].lineage))]
        colour[start] = 1
        path.append(start)
        while stack:
            node, parents = stack[-1]
            for parent in parents:
                if parent not in entries:
                    continue
                if colour[parent] == 1:
                    cycles.append(path[path.index(parent):])
                elif colour[parent] == 0:
                    colour[parent] = 1
                    path.append(parent)
                    stack.append((parent, iter(p.id for p in entries[parent].lineage)))
                    break
            else:
                colour[node] = 2
                path.pop()
                stack.pop()
    return cycles


# ---------------------------------------------------------------------------------------------


def load_knowledge_base(data: Path | None = None, *, use_cache: bool | None = None) -> KnowledgeBase:
    """Read every entry file of the active folders, validate it all, and index it.

    A valid knowledge base is cached on disk (see cache.py) under a key of every file's name,
    size and modification time, evollm's version and its schema, so it is never served stale.
    """
    from evollm import cache

    folders = data_dirs(data)
    if data is not None and not folders[0].is_dir():
        raise NotFound(f"no data folder {str(folders[0])!r}")
    use_cache = cache.enabled() if use_cache is None else use_cache
    with _collector_paused():
        listed = [(rank, path, info) for rank, folder in enumerate(folders) for path, info in _entry_files(folder)]
        files = [(rank, path) for rank, path, _ in listed]
        keyed = cache.key_of([(path, info) for _, path, info in listed]) if use_cache else None
        cached = cache.read(folders, keyed[0], [path for _, path in files]) if keyed is not None else None
    if cached is not None:
        entries, paths, overridden, warnings, stored = cached
        return KnowledgeBase(entries, paths, overridden, warnings, _stored=stored)
    kb = _parse_and_validate(files)
    if keyed is not None and keyed[1]:
        cache.write(folders, keyed[0], kb, [path for _, path in files])
    return kb


@contextmanager
def _collector_paused():
    """The cyclic garbage collector off while the knowledge base is listed and read.

    Those steps allocate tens of thousands of objects and free almost none, so every collection
    they trigger is wasted (measured at 10,000 entries: one full collection during the listing
    alone cost 15-20 ms). What was read lives as long as the process, so afterwards it is moved
    out of the collector's sight (`gc.freeze`) rather than walked by every later collection.
    """
    import gc

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def _parse_and_validate(files: list[tuple[int, str]]) -> KnowledgeBase:
    import gc

    entries: dict = {}
    paths: dict[str, Path] = {}
    overridden: set[str] = set()
    problems: list[Problem] = []
    failed: set[str] = set()
    # Parsing allocates millions of small objects and keeps few: the cyclic collector only
    # slows it down (measured: 2.4 s -> 1.3 s for 10,000 files).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for rank, name in files:
            path = Path(name)
            entry, found = read_entry(path, _display(path))
            problems += found
            if entry is None:
                failed.add(path.stem)
                continue
            if entry.id in entries and rank > 0 and paths[entry.id].parent != path.parent:
                overridden.add(entry.id)
            entries[entry.id] = entry
            paths[entry.id] = path
    finally:
        if was_enabled:
            gc.enable()
    crossing = cross_problems(entries, paths, failed - set(entries))
    if crossing:  # rare: parse the files concerned again for the lines of the fields to blame
        crossing = [_with_line(p, paths) for p in crossing]
    problems += crossing
    if problems:
        raise InvalidKnowledgeBase(problems)
    ordered = dict(sorted(entries.items(), key=lambda item: (item[1].date, item[0])))
    warnings = [Problem(_display(paths[e.id]), None, "status", "draft: problem and solution not written yet")
                for e in ordered.values() if e.status == "draft"]
    return KnowledgeBase(ordered, paths, overridden, warnings)


def _with_line(problem: Problem, paths: dict[str, Path]) -> Problem:
    by_display = {_display(p): p for p in paths.values()}
    path = by_display.get(problem.path)
    if path is None:
        return problem
    loader = _yaml_loader()(path.read_text(encoding="utf-8"))
    try:
        node = loader.get_single_node()
    finally:
        loader.dispose()
    loc = tuple(int(p) if p.isascii() and p.isdigit() else p for p in re.split(r"[.\[\]]+", problem.field) if p)
    return Problem(problem.path, _line_of(node, loc), problem.field, problem.message)
