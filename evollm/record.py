"""Entries read back from the cache: the attributes of `models.Entry`, without pydantic.

A run served from the cache never validates, so it need not import pydantic at all (about 60 ms
of start-up). `Record` answers every attribute an Entry has; `EntryViews` holds the values derived
from them, shared by both classes so they cannot drift apart.
"""

from __future__ import annotations

import copy


class EntryViews:
    """Values derived from an entry's fields."""

    date: str

    @property
    def year(self) -> int:
        return int(self.date[:4])

    @property
    def month(self) -> str:
        return self.date[:7]


class Link:
    """One `lineage` item: the parent's id, the relation, a note."""

    __slots__ = ("id", "relation", "note")

    def __init__(self, id: str, relation: str, note: str = "") -> None:  # noqa: A002 - the field's name
        self.id, self.relation, self.note = id, relation, note


class Size:
    """One `params` item."""

    __slots__ = ("label", "total", "active")

    def __init__(self, label: str, total: int, active: int | None = None) -> None:
        self.label, self.total, self.active = label, total, active


class Record(EntryViews):
    """A validated entry, rebuilt from a full `Entry.model_dump(mode="json")` in the cache."""

    def __init__(self, data: dict) -> None:
        self.__dict__.update(data)
        self.lineage = [Link(**p) for p in data["lineage"]]
        self.params = [Size(**p) for p in data["params"]]
        self._data = data

    def model_dump(self, mode: str = "json", exclude_none: bool = False) -> dict:
        """The same dict `Entry.model_dump(mode="json")` gives (always JSON-ready)."""
        data = copy.deepcopy(self._data)
        return {k: v for k, v in data.items() if v is not None} if exclude_none else data

    def __repr__(self) -> str:
        return f"Record(id={self.id!r})"
