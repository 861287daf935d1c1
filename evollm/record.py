"""Entries read back from the cache: the attributes of `models.Entry`, without pydantic.

A run served from the cache never validates, so it need not import pydantic at all (about 60 ms
of start-up). A `Record` starts with the fields of `INDEX_FIELDS` and reads the rest of its entry
from the cache file the first time one of them is asked for. `EntryViews` holds the values derived
from an entry's fields, shared with `models.Entry` so the two cannot drift apart.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os

from evollm.errors import EvollmError

from evollm.vocab import MEASURES

# What listings, trees and lineage queries read, in the order of an index row; everything else
# (lineage notes included) is read on demand. `_pairs` is the lineage as [[parent id, relation]],
# `_offset` where the entry's full line starts, `_file` the number of its file in the listing.
INDEX_FIELDS = ("id", "name", "aliases", "date", "kind", "labs", "family", "topics", "_pairs", "uses",
                "demo", "arxiv", "architecture", "status", "_offset", "_file")


def _without_none(value):
    """`value` with None dropped from every dict at every depth, as pydantic's exclude_none does."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


class EntryViews:
    """Values derived from an entry's fields."""

    date: str

    @property
    def year(self) -> int:
        return int(self.date[:4])

    @property
    def month(self) -> str:
        return self.date[:7]

    def parent_ids(self) -> list[str]:
        return [p.id for p in self.lineage]


class Link:
    """One `lineage` item: the parent's id, the relation, and a note read with the rest of the entry."""

    __slots__ = ("id", "relation", "_owner", "_index")

    def __init__(self, id: str, relation: str, owner: Record, index: int) -> None:  # noqa: A002
        self.id, self.relation, self._owner, self._index = id, relation, owner, index

    @property
    def note(self) -> str:
        return self._owner._complete()["lineage"][self._index]["note"]


class Size:
    """One `params` item."""

    __slots__ = ("label", "total", "active", "source")

    def __init__(self, label: str, total: int, active: int | None = None, source: str | None = None) -> None:
        self.label, self.total, self.active, self.source = label, total, active, source


class Amount:
    """One `context`, `training_tokens` or `training_compute` item."""

    __slots__ = ("label", "value", "source", "note", "estimated")

    def __init__(self, value: float, source: str, label: str | None = None, note: str | None = None,
                 estimated: bool = False) -> None:
        self.value, self.source, self.label, self.note, self.estimated = value, source, label, note, estimated


def line_digest(body: bytes) -> bytes:
    """The check a cache line carries before its JSON: 16 hex digits of BLAKE2b."""
    return hashlib.blake2b(body, digest_size=8).hexdigest().encode()


class DamagedCache(EvollmError):
    """A line of the cache does not match its check (damaged, or edited by hand)."""


class RecordFile:
    """The open cache file; `fetch(offset)` decodes the entry written at that offset, after
    checking the line against the digest written before it (`line_digest`)."""

    def __init__(self, handle, base: int) -> None:
        self.handle, self.base = handle, base

    def fetch(self, offset: int) -> dict:
        self.handle.seek(self.base + offset)
        digest, _, body = self.handle.readline().partition(b" ")
        if line_digest(body) != digest:
            name = getattr(self.handle, "name", "the cache")
            try:
                os.unlink(name)  # rebuilt on the next run
            except (OSError, TypeError):
                pass
            raise DamagedCache(f"the cache file {name} was damaged or edited (a line fails its check); "
                               "it is removed: run the command again")
        return json.loads(body)


class Record(EntryViews):
    """A validated entry from the cache, its non-index fields read on first use.

    The index fields are slots, filled by `records` straight from the decoded rows: for 10,000
    entries that is 2 ms, where an `__init__` filling `__dict__` took 12 ms. The other fields land
    in `__dict__` when first asked for.
    """

    __slots__ = (*INDEX_FIELDS, "_source", "_full", "_links")  # the rest: EntryViews gives a __dict__

    @property
    def lineage(self) -> list[Link]:
        """Built on first use: most commands never look at most entries' parents."""
        try:
            return self._links
        except AttributeError:
            self._links = [Link(p, r, self, i) for i, (p, r) in enumerate(self._pairs)]
            return self._links

    def parent_ids(self) -> list[str]:
        return [pair[0] for pair in self._pairs]  # no Link objects needed

    def _complete(self) -> dict:
        if self._full is None:
            full = self._source.fetch(self._offset)
            self._full = copy.deepcopy(full)
            full["params"] = [Size(**p) for p in full["params"]]
            for name in MEASURES:
                full[name] = [Amount(**m) for m in full.get(name, [])]
            self.__dict__.update((k, v) for k, v in full.items() if k not in _SLOTS)
        return self._full

    def __getattr__(self, name: str):
        # Called only for attributes not set yet: the fields outside the index.
        if name.startswith("_"):
            raise AttributeError(name)
        self._complete()
        try:
            return self.__dict__[name]
        except KeyError:
            raise AttributeError(name) from None

    def model_dump(self, mode: str = "json", exclude_none: bool = False) -> dict:
        """The same dict `Entry.model_dump(mode="json")` gives (always JSON-ready)."""
        data = copy.deepcopy(self._complete())
        return _without_none(data) if exclude_none else data

    def __repr__(self) -> str:
        return f"Record(id={self.id!r})"


_SLOTS = frozenset(Record.__slots__) | {"lineage"}


def records(rows, source: RecordFile) -> dict[str, Record]:
    """id -> Record for index rows (sequences laid out as INDEX_FIELDS)."""
    new, out = object.__new__, {}
    for row in rows:
        r = new(Record)
        (r.id, r.name, r.aliases, r.date, r.kind, r.labs, r.family, r.topics, r._pairs, r.uses,
         r.demo, r.arxiv, r.architecture, r.status, r._offset, r._file) = row
        r._source, r._full = source, None
        out[r.id] = r
    return out
