"""An on-disk cache of the validated knowledge base that can never serve stale data.

The key covers every entry file's path, size, modification and change times and inode (so any edit,
added, removed or renamed file changes it; ctime even catches an edit that restores the mtime),
evollm's version, and the bytes of the schema's source
files. A cache whose key differs, or that cannot be read or parsed, is ignored and rebuilt. It is
JSON, never pickle: reading it cannot run code. It is written to a temporary file and renamed, so
two processes writing at once leave one complete cache.

Layout, one file: a header line (key, paths, warnings, and an index of the fields listings and
lineage need), then one JSON line per entry with everything. Entries are `record.Record`s that
read their own line only when a field outside the index is asked for: `timeline` on 10,000
entries decodes 3 MB instead of 13 MB.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

from evollm import __version__

# The sources whose change can change what the cache holds or how it is read.
_SCHEMA_FILES = ("models.py", "vocab.py", "demos/registry.py", "kb.py", "cache.py", "record.py", "query.py")


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

    numbers = array("q")
    newest = 0
    for _, st in files:
        numbers.extend((st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
        newest = max(newest, st.st_mtime_ns, st.st_ctime_ns)
    names = "\0".join(path for path, _ in files).encode()
    key = hashlib.sha256(_schema_fingerprint() + names + b"\0\0" + numbers.tobytes()).hexdigest()
    return key, time.time_ns() - newest > RACY_SECONDS * 1e9


def parsed_file(path: Path, parse):
    """`parse(path)` (a JSON-able value), cached under the file's size and times."""
    try:
        st = path.stat()
        key = hashlib.sha256(_schema_fingerprint() + f"{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\0"
                             f"{st.st_ctime_ns}\0{st.st_ino}".encode()).hexdigest()
    except OSError:
        return parse(path)
    target = cache_dir() / f"file-{key[:16]}.json"
    if enabled():
        try:
            data = json.loads(target.read_bytes())
            if data.get("key") == key:
                return data["value"]
        except Exception:  # noqa: BLE001 — no cache, or a broken one: parse
            pass
    value = parse(path)
    if enabled():
        try:
            from evollm.fileio import write_atomic

            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target, json.dumps({"key": key, "value": value}), overwrite=True)
        except OSError:
            pass
    return value


def _file_for(folders: list[Path]) -> Path:
    where = "\0".join(str(f.resolve()) for f in folders)
    return cache_dir() / f"kb-{hashlib.sha256(where.encode()).hexdigest()[:16]}.json"


def _search_file_for(folders: list[Path], part: str = "search") -> Path:
    main = _file_for(folders)
    return main.with_name(f"{part}-" + main.name.removeprefix("kb-"))


def read(folders: list[Path], key: str, files: list[str]):
    """The cached (entries, paths, overridden, warnings, lookup) for `key`, or None.

    `files` are the entry files the key was made from, in its order: the cache names each entry's
    file by its number there, which decodes faster than 10,000 paths.

    Call it with the garbage collector paused (kb._collector_paused): the decoded JSON is many
    objects, all kept, so a collection during the read would only waste time."""
    from evollm.errors import Problem
    from evollm.record import INDEX_FIELDS, RecordFile, records

    try:
        handle = open(_file_for(folders), "rb")  # noqa: SIM115 - kept open for lazy reads
        header = json.loads(handle.readline())
        if not isinstance(header, dict) or header.get("key") != key:
            handle.close()
            return None
        base = handle.tell()
        index, width = header["index"], len(INDEX_FIELDS)
        # A key that matches guarantees the files; these cheap checks guard against a damaged body.
        if os.fstat(handle.fileno()).st_size - base != header["size"] or not all(
                type(row) is list and len(row) == width for row in index):
            handle.close()
            return None
        source = RecordFile(handle, base)
        entries = records(index, source)
        warnings = [Problem(*w) for w in header["warnings"]]
        lookup = lambda: _read_lookup(folders, key)  # noqa: E731 - only search and loose names ask
        return entries, EntryPaths(entries, files), set(header["overridden"]), warnings, lookup
    except Exception:  # noqa: BLE001 — any unreadable or corrupt cache is rebuilt silently
        return None


def _read_json(path: Path, key: str) -> dict | None:
    import gc

    gc.disable()
    try:
        data = json.loads(path.read_bytes())
        return data if isinstance(data, dict) and data.get("key") == key else None
    except Exception:  # noqa: BLE001 — a missing or broken file: the caller does without
        return None
    finally:
        gc.freeze()
        gc.enable()


def _read_lookup(folders: list[Path], key: str) -> dict | None:
    """{"postings", "names", "counts": a loader} for `key`, or None (then search scans the text)."""
    data = _read_json(_search_file_for(folders), key)
    try:
        if data is None or not all(type(rows) is list and len(rows) == 2 for rows in data["postings"].values()):
            return None

        def counts() -> dict | None:
            stored = _read_json(_search_file_for(folders, "counts"), key)
            return stored.get("counts") if stored is not None else None

        return {"postings": data["postings"], "names": data["names"], "counts": counts}
    except Exception:  # noqa: BLE001 — without the index, search scans the text instead
        return None


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
    from evollm.record import INDEX_FIELDS

    number = {str(Path(name)): i for i, name in enumerate(files)}  # kb.paths holds them as Paths
    lines, index, offset = [], [], 0
    for entry in kb:
        full = entry.model_dump(mode="json")
        line = json.dumps(full, ensure_ascii=False, separators=(",", ":")) + "\n"
        row = {**full, "_pairs": [[p["id"], p["relation"]] for p in full["lineage"]], "_offset": offset,
               "_file": number[str(kb.paths[entry.id])]}
        index.append([row[name] for name in INDEX_FIELDS])  # rows as lists: a third faster to decode
        lines.append(line)
        offset += len(line.encode())
    header = {
        "key": key,
        "size": offset,
        "index": index,
        "overridden": sorted(kb.overridden),
        "warnings": [[w.path, w.line, w.field, w.message] for w in kb.warnings],
    }
    text = json.dumps(header, ensure_ascii=False, separators=(",", ":")) + "\n" + "".join(lines)
    target = _file_for(folders)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        from evollm.fileio import write_atomic

        write_atomic(target, text, overwrite=True)
        from evollm.query import search_postings

        postings = search_postings(kb)
        compact = {"separators": (",", ":"), "ensure_ascii": False}
        counts = {"key": key, "counts": {token: rows[2] for token, rows in postings.items()}}
        write_atomic(_search_file_for(folders, "counts"), json.dumps(counts, **compact), overwrite=True)
        index = {"key": key, "postings": {token: rows[:2] for token, rows in postings.items()},
                 "names": kb.name_index()}
        write_atomic(_search_file_for(folders), json.dumps(index, **compact), overwrite=True)
    except OSError:
        pass
