"""Entries read back from the cache: the attributes of `models.Entry`, without pydantic.

A run served from the cache never validates, so it need not import pydantic at all (about 60 ms
of start-up). A `Record` starts with the fields of `INDEX_FIELDS` and reads the rest of its entry
from the cache file the first time one of them is asked for. `EntryViews` holds the values derived
from an entry's fields, shared with `models.Entry` so the two cannot drift apart.
"""

from __future__ import annotations

import copy
import json

# What listings, trees and lineage queries read, in the order of an index row; everything else
# (lineage notes included) is read on demand.
INDEX_FIELDS = ("id", "name", "aliases", "date", "kind", "labs", "family", "topics", "lineage", "uses",
                "demo", "arxiv", "architecture", "status", "_offset")


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

    __slots__ = ("label", "total", "active")

    def __init__(self, label: str, total: int, active: int | None = None) -> None:
        self.label, self.total, self.active = label, total, active


class RecordFile:
    """The open cache file; `fetch(offset)` decodes the entry written at that offset."""

    def __init__(self, handle, base: int) -> None:
        self.handle, self.base = handle, base

    def fetch(self, offset: int) -> dict:
        self.handle.seek(self.base + offset)
        return json.loads(self.handle.readline())


class Record(EntryViews):
    """A validated entry from the cache, its non-index fields read on first use."""

    def __init__(self, row: list, source: RecordFile) -> None:
        self.__dict__.update(zip(INDEX_FIELDS, row))
        self._source = source
        self._full: dict | None = None

    @property
    def lineage(self) -> list[Link]:
        """Built on first use: most commands never look at most entries' parents."""
        links = self.__dict__.get("_links")
        if links is None:
            pairs = self.__dict__["lineage"]  # [[parent id, relation], ...] from the index
            links = self.__dict__["_links"] = [Link(p, r, self, i) for i, (p, r) in enumerate(pairs)]
        return links

    def parent_ids(self) -> list[str]:
        return [pair[0] for pair in self.__dict__["lineage"]]  # no Link objects needed

    def _complete(self) -> dict:
        if self._full is None:
            full = self._source.fetch(self._offset)
            self._full = copy.deepcopy(full)
            del full["lineage"]
            full["params"] = [Size(**p) for p in full["params"]]
            self.__dict__.update(full)
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
