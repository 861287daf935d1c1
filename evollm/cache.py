"""An on-disk cache of the validated knowledge base that can never serve stale data.

The key covers every entry file's path, size, modification and change times and inode (so any edit,
added, removed or renamed file changes it; ctime even catches an edit that restores the mtime),
evollm's version, and the bytes of the schema's source
files. A cache whose key differs, or that cannot be read or parsed, is ignored and rebuilt. It is
JSON, never pickle: reading it cannot run code. It is written to a temporary file and renamed, so
two processes writing at once leave one complete cache.

Layout, one file of JSON lines: the key and the header's length; the header (warnings, an index
of the fields listings and lineage need, by column, and where each stored part starts); one line
per entry with everything; then the parts (see `Stored`). Entries are `record.Record`s that read
their own line only when a field outside the index is asked for: `timeline` on 10,000 entries
decodes 2.4 MB instead of 13 MB, and a stale cache is recognised from its first line alone.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

from evollm import __version__

# The sources whose change can change what the cache holds or how it is read.
_SCHEMA_FILES = ("models.py", "text.py", "vocab.py", "demos/registry.py", "kb.py", "cache.py", "record.py", "index.py")


def enabled() -> bool:
    return not os.environ.get("EVOLLM_NO_CACHE")


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "evollm"


def _schema_fingerprint() -> bytes:
    here = Path(__file__).parent
    digest = hashlib.sha256(__version__.encode())
    for name in _SCHEMA_FILES:
        digest.update((here / name).read_bytes())
    return digest.digest()


RACY_SECONDS = 2.0


def key_of(files: list[tuple[str, os.stat_result]]) -> tuple[str, bool]:
    """(key, may_write) for the entry files and their stats.

    `may_write` is False while a file is younger than RACY_SECONDS: an edit within the same
    clock tick as the previous write would leave size and times unchanged, so a cache is only
    written once every file is older than that (git handles "racily clean" files the same way).
    """
    import time
    from array import array

    flat: list[int] = []
    extend = flat.extend  # one flat list, then one array: half the time of extending an array per file
    for _, st in files:
        extend((st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
    numbers = array("q", flat)
    newest = max(max(numbers[1::4], default=0), max(numbers[2::4], default=0))
    names = "\0".join(path for path, _ in files).encode()
    key = hashlib.sha256(_schema_fingerprint() + names + b"\0\0" + numbers.tobytes()).hexdigest()
    return key, time.time_ns() - newest > RACY_SECONDS * 1e9


def parsed_file(path: Path, parse):
    """`parse(path)` (a JSON-able value), cached under the file's size and times (a cache file
    that is not this user's own is not read)."""
    try:
        st = path.stat()
        key = hashlib.sha256(_schema_fingerprint() + f"{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\0"
                             f"{st.st_ctime_ns}\0{st.st_ino}".encode()).hexdigest()
    except OSError:
        return parse(path)
    target = cache_dir() / f"file-{key[:16]}.json"
    from evollm.errors import EvollmError
    from evollm.fileio import private_dir, read_private, write_atomic

    if enabled():
        try:
            data = json.loads(read_private(target))
            if data.get("key") == key:
                return data["value"]
        except Exception:  # noqa: BLE001 — no cache, or a broken one: parse
            pass
    value = parse(path)
    if enabled():
        try:
            private_dir(target.parent)
            write_atomic(target, json.dumps({"key": key, "value": value}), overwrite=True, private=True)
        except (OSError, EvollmError):
            pass
    return value


def _file_for(folders: list[Path]) -> Path:
    where = "\0".join(str(f.resolve()) for f in folders)
    return cache_dir() / f"kb-{hashlib.sha256(where.encode()).hexdigest()[:16]}.json"


def read(folders: list[Path], key: str, files: list[str]):
    """The cached (entries, paths, overridden, warnings, stored) for `key`, or None.

    `files` are the entry files the key was made from, in its order: the cache names each entry's
    file by its number there, which decodes faster than 10,000 paths.

    Call it with the garbage collector paused (kb._collector_paused): the decoded JSON is many
    objects, all kept, so a collection during the read would only waste time."""
    from evollm.errors import Problem
    from evollm.fileio import owned
    from evollm.record import INDEX_FIELDS, RecordFile, line_digest, records

    try:
        # Not through a link, and only a file of this user's that no one else may write.
        fd = os.open(_file_for(folders), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        handle = open(fd, "rb")  # noqa: SIM115 - kept open for lazy reads
        if not owned(os.fstat(fd)):
            handle.close()
            return None
        first = json.loads(handle.readline())
        if not isinstance(first, dict) or first.get("key") != key:
            handle.close()
            return None
        header_line = handle.read(first["header"])  # one read: readline would grow 8 KB at a time
        if line_digest(header_line) != first.get("check", "").encode():
            handle.close()
            return None
        header = json.loads(header_line)
        base = handle.tell()
        columns = header["index"]
        # A key that matches guarantees the files; these cheap checks guard against a damaged body.
        if os.fstat(handle.fileno()).st_size - base != header["size"] or len(columns) != len(INDEX_FIELDS) or not all(
                type(column) is list and len(column) == len(columns[0]) for column in columns):
            handle.close()
            return None
        source = RecordFile(handle, base)
        entries = records(zip(*columns), source)
        warnings = [Problem(*w) for w in header["warnings"]]
        stored = Stored(source, header["parts"])
        return entries, EntryPaths(entries, files), set(header["overridden"]), warnings, stored
    except Exception:  # noqa: BLE001 — any unreadable or corrupt cache is rebuilt silently
        return None


class Stored:
    """Indexes derived from the entries, stored after them in the cache file and decoded only when
    a command asks: "names" (loose spellings), "children" and "adopters" (lineage), "tokens"
    (search). `show` on 10,000 entries then decodes a few kilobytes instead of rebuilding the
    children of every entry (~10 ms), and `search` reads the rows of its words' tokens only."""

    def __init__(self, source, parts: dict[str, int]) -> None:
        self._source, self._parts = source, parts

    def part(self, name: str) -> dict | None:
        """The stored index, or None (missing or damaged: the caller builds it from the entries)."""
        try:
            value = self._source.fetch(self._parts[name])
        except Exception:  # noqa: BLE001
            return None
        return value if isinstance(value, dict) else None

    def tokens(self) -> TokenIndex | None:
        try:
            tokens, offsets = self._source.fetch(self._parts["tokens"])
            if type(tokens) is list and type(offsets) is list and len(tokens) == len(offsets):
                return TokenIndex(self._source, tokens, offsets)
        except Exception:  # noqa: BLE001
            pass
        return None


class TokenIndex:
    """Search's inverted index: the sorted tokens, and for each a row
    [positions, scores, counts] (see index.search_postings) read from the cache when asked."""

    def __init__(self, source, tokens: list[str], offsets: list[int]) -> None:
        self._source, self._tokens, self._offsets = source, tokens, offsets

    def matching(self, word: str) -> list[int]:
        """The numbers of the tokens `word` is a prefix of (sorted tokens: one contiguous run)."""
        from bisect import bisect_left

        start = end = bisect_left(self._tokens, word)
        while end < len(self._tokens) and self._tokens[end].startswith(word):
            end += 1
        return list(range(start, end))

    def row(self, number: int) -> list[str] | None:
        """[positions, scores, counts] of token `number`; None if the row is damaged."""
        try:
            row = self._source.fetch(self._offsets[number])
        except Exception:  # noqa: BLE001
            return None
        return row if type(row) is list and len(row) == 3 and all(type(x) is str for x in row) else None


class EntryPaths(Mapping):
    """id -> the file the entry came from (a str), looked up from the entry's file number when
    asked: building 10,000 paths, or decoding them, costs more than the rare command needing one."""

    def __init__(self, entries: dict, files: list[str]) -> None:
        self._entries, self._files = entries, files

    def __getitem__(self, entry_id: str) -> str:
        return self._files[self._entries[entry_id]._file]

    def __iter__(self):
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def write(folders: list[Path], key: str, kb, files: list[str]) -> None:
    """Store a validated knowledge base; failing to write is not an error (the cache is optional)."""
    import gc

    gc.disable()  # allocation-heavy and cycle-free: the collector would only slow it down
    try:
        _write(folders, key, kb, files)
    finally:
        gc.enable()


def _write(folders: list[Path], key: str, kb, files: list[str]) -> None:
    from evollm.errors import EvollmError
    from evollm.fileio import private_dir, write_atomic
    from evollm.index import search_postings
    from evollm.record import INDEX_FIELDS, line_digest

    def add(value) -> int:
        """Append a JSON line to the body; its offset there."""
        nonlocal offset
        body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        line = line_digest(body) + b" " + body  # checked by RecordFile.fetch when read
        lines.append(line)
        start, offset = offset, offset + len(line)
        return start

    number = {str(Path(name)): i for i, name in enumerate(files)}  # kb.paths holds them as Paths
    lines, rows, offset = [], [], 0
    for entry in kb:
        full = entry.model_dump(mode="json")
        rows.append({**full, "_pairs": [[p["id"], p["relation"]] for p in full["lineage"]], "_offset": add(full),
                     "_file": number[str(kb.paths[entry.id])]})
    # By column: 10,000 entries decode in 7 ms as sixteen flat lists, 15 ms as 10,000 rows.
    index = [[row[name] for row in rows] for name in INDEX_FIELDS]
    parts = {"names": add(kb.name_index()), "children": add(kb.children_index()),
             "adopters": add(kb.adopters_index())}
    postings = search_postings(kb)
    tokens = sorted(postings)
    parts["tokens"] = add([tokens, [add(postings[token]) for token in tokens]])
    header = {
        "size": offset,
        "index": index,
        "parts": parts,
        "overridden": sorted(kb.overridden),
        "warnings": [[w.path, w.line, w.field, w.message] for w in kb.warnings],
    }
    header_line = (json.dumps(header, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    first = json.dumps({"key": key, "header": len(header_line), "check": line_digest(header_line).decode()}) + "\n"
    text = first.encode() + header_line + b"".join(lines)
    target = _file_for(folders)
    try:
        private_dir(target.parent)
        write_atomic(target, text, overwrite=True, private=True)
    except (OSError, EvollmError):
        pass
