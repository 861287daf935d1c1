"""An on-disk cache of the validated knowledge base that can never serve stale data.

The key covers every entry file's path, size, modification time and inode (so any edit, added,
removed or renamed file changes it), evollm's version, and the bytes of the schema's source
files. A cache whose key differs, or that cannot be read or parsed, is ignored and rebuilt.
The cache is JSON, never pickle: reading it cannot run code. It is written to a temporary file
and renamed, so two processes writing at once leave one complete cache.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from evollm import __version__

_SCHEMA_FILES = ("models.py", "vocab.py", "demos/registry.py", "kb.py", "cache.py")


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


def key_of(files: list[Path]) -> str | None:
    """The key of a list of entry files, or None if any cannot be examined (then: no cache)."""
    digest = hashlib.sha256(_schema_fingerprint())
    try:
        for path in files:
            st = path.stat()
            digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\n".encode())
    except OSError:
        return None
    return digest.hexdigest()


def _file_for(folders: list[Path]) -> Path:
    where = "\0".join(str(f.resolve()) for f in folders)
    return cache_dir() / f"kb-{hashlib.sha256(where.encode()).hexdigest()[:16]}.json"


def read(folders: list[Path], key: str):
    """The cached (entries, paths, overridden, warnings) for `key`, or None."""
    from evollm.errors import Problem
    from evollm.record import Record

    import gc

    gc.disable()  # the decoded JSON is hundreds of thousands of objects, all kept: nothing to collect
    try:
        data = json.loads(_file_for(folders).read_bytes())
        if not isinstance(data, dict) or data.get("key") != key:
            return None
        entries = {}
        for raw in data["entries"]:
            entries[raw["id"]] = Record(raw)
        paths = data["paths"]  # str values: Path objects for 10,000 entries cost 20 ms, rarely needed
        warnings = [Problem(*w) for w in data["warnings"]]
        return entries, paths, set(data["overridden"]), warnings
    except Exception:  # noqa: BLE001 — any unreadable or corrupt cache is rebuilt silently
        return None
    finally:
        gc.enable()


def write(folders: list[Path], key: str, kb) -> None:
    """Store a validated knowledge base; failing to write is not an error (the cache is optional)."""
    target = _file_for(folders)
    payload = {
        "key": key,
        "entries": [entry.model_dump(mode="json") for entry in kb],
        "paths": {entry_id: str(path) for entry_id, path in kb.paths.items()},
        "overridden": sorted(kb.overridden),
        "warnings": [[w.path, w.line, w.field, w.message] for w in kb.warnings],
    }
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        from evollm.fileio import write_atomic

        write_atomic(target, json.dumps(payload, ensure_ascii=False, separators=(",", ":")), overwrite=True)
    except OSError:
        pass
