"""What `evollm browse` shows, as plain Python: no Textual here.

The timeline's rows (year headings and entries), the filters and the search that narrow them,
the card and the links of an entry, and the history of visited entries. The queries are the
CLI's own (`query.filter_entries`, `query.search`, `query.card_context`, `render.card.card`), so
the app cannot drift from `evollm timeline`, `search` and `show`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from evollm import query
from evollm.errors import UsageError
from evollm.render.styled import Styled, fit


_WORD = re.compile(r"\w")  # a search text without one has nothing to look for (as query.search sees words)


@dataclass(frozen=True)
class Heading:
    """A heading row of the list: a year with its era's title and its number of entries."""

    label: str
    title: str = ""
    count: int = 0


@dataclass(frozen=True)
class Filters:
    """The timeline's filters, as `evollm timeline --kind --lab --family --topic` takes them."""

    kind: str | None = None
    lab: str | None = None
    family: str | None = None
    topic: str | None = None

    def active(self) -> list[tuple[str, str]]:
        """(name, value) of each filter that is set."""
        return [(f.name, getattr(self, f.name)) for f in fields(self) if getattr(self, f.name)]


@dataclass(frozen=True)
class Link:
    """A selectable link of the card: a parent, a child or an adopter."""

    group: str  # "Parents", "Children" or "Used by"
    entry_id: str
    text: str  # e.g. "builds-on Attn (2017-06)"


class Rows:
    """The list the left pane shows: headings and entries, and where each entry sits."""

    def __init__(self, rows: list, summary: str) -> None:
        self.rows = rows
        self.summary = summary  # e.g. "8 entries" or "3 matches for 'rope'"
        self.position = {row.id: i for i, row in enumerate(rows) if not isinstance(row, Heading)}
        self._widths: dict[int, tuple[int, int, int]] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def entry_at(self, index: int):
        """The entry of row `index`, or None for a heading or a row out of range."""
        if 0 <= index < len(self.rows):
            row = self.rows[index]
            return None if isinstance(row, Heading) else row
        return None

    def next_entry(self, index: int, step: int) -> int | None:
        """The index of the first entry row from `index` (included) going by `step`, or None."""
        while 0 <= index < len(self.rows):
            if not isinstance(self.rows[index], Heading):
                return index
            index += step
        return None

    def columns(self, width: int) -> tuple[int, int, int]:
        """(name, kind, labs) column widths for a list `width` cells wide (after the 10-cell date).
        Labs give way first; names keep at least 12 cells."""
        if width not in self._widths:
            entries = [row for row in self.rows if not isinstance(row, Heading)]
            longest_name = max((len(e.name) for e in entries), default=4)
            kind_w = max((len(e.kind) for e in entries), default=4)
            room = max(0, width - 10 - 1 - 1 - kind_w - 1)  # date, gaps, kind, gap
            name_w = min(longest_name, max(12, room * 3 // 5))
            labs_w = max(0, room - name_w)
            if labs_w < 6:  # too narrow to say anything: give the cells to the name
                name_w, labs_w = min(longest_name, room), 0
            self._widths[width] = (name_w, kind_w, labs_w)
        return self._widths[width]

    def line(self, index: int, width: int) -> list[tuple[str, str]]:
        """Row `index` as (text, role) pieces filling at most `width` cells; roles: heading,
        era, count, date, name, kind, labs, gap."""
        row = self.rows[index]
        if isinstance(row, Heading):
            pieces = [(row.label, "heading")]
            if row.title:
                pieces.append(("  " + row.title, "era"))
            if row.count:
                pieces.append((f"  ({row.count})", "count"))
            return pieces
        name_w, kind_w, labs_w = self.columns(width)
        pieces = [(f"{row.date:<10} ", "date"), (f"{fit(row.name, name_w):<{name_w}} ", "name"),
                  (f"{row.kind:<{kind_w}}", "kind")]
        if labs_w:
            pieces.append((" " + fit(", ".join(row.labs), labs_w), "labs"))
        return pieces


def timeline_rows(entries: list, eras: dict[int, dict]) -> list:
    """Entries in date order under a heading for each year (its era's title, its count)."""
    by_year: dict[int, list] = {}
    for entry in entries:
        by_year.setdefault(entry.year, []).append(entry)
    rows: list = []
    for year, items in by_year.items():
        rows.append(Heading(str(year), eras.get(year, {}).get("title", ""), len(items)))
        rows.extend(items)
    return rows


class Browser:
    """The state behind the app: filters, search text and the rows they select."""

    def __init__(self, kb, eras: dict[int, dict] | None = None) -> None:
        self.kb = kb
        self.eras = query.load_eras() if eras is None else eras
        self.filters = Filters()
        self.search = ""
        self.rows = self.select()

    def apply(self, *, filters: Filters | None = None, search: str | None = None) -> Rows:
        """Change the filters and/or the search text; the new rows."""
        return self.commit(self.select(filters=filters, search=search), filters=filters, search=search)

    def select(self, *, filters: Filters | None = None, search: str | None = None) -> Rows:
        """The rows for these filters and search text (the current ones where not given),
        without changing anything: safe to call on another thread."""
        f = self.filters if filters is None else filters
        text = self.search if search is None else search
        entries = query.filter_entries(self.kb, kind=f.kind, lab=f.lab, family=f.family, topic=f.topic)
        narrowed = f" of {len(self.kb)}" if f.active() else ""
        try:
            hits = self._hits(text)
        except UsageError as exc:  # too long a search text: say so rather than list everything
            return Rows([], exc.message)
        if hits is None:
            noun = "entry" if len(entries) == 1 else "entries"
            return Rows(timeline_rows(entries, self.eras), f"{len(entries)}{narrowed} {noun}")
        if f.active():
            passing = {e.id for e in entries}
            hits = [e for e in hits if e.id in passing]
        noun = "match" if len(hits) == 1 else "matches"
        return Rows(hits, f"{len(hits)} {noun} for {text.strip()!r}, best first")

    def commit(self, rows: Rows, *, filters: Filters | None = None, search: str | None = None) -> Rows:
        """Make `rows` (from `select` with the same filters and text) the current ones."""
        if filters is not None:
            self.filters = filters
        if search is not None:
            self.search = search
        self.rows = rows
        return rows

    def _hits(self, text: str) -> list | None:
        """The entries matching the search text, ranked as `evollm search` ranks them; None
        when there is no word to search for (empty, or punctuation only). UsageError when the
        text is longer than `evollm search` takes."""
        if not _WORD.search(text):
            return None
        return [entry for _, entry in query.search(self.kb, text, max(1, len(self.kb)))]

    def card(self, entry_id: str, width: int) -> Styled:
        """The card of `entry_id` exactly as `evollm show` prints it at `width` columns."""
        from evollm.render.card import card

        entry = self.kb.entries[entry_id]
        return card(entry, **query.card_context(self.kb, entry), width=width)

    def links(self, entry_id: str) -> list[Link]:
        """The entry's parents, children and adopters, in that order, each in date order."""
        kb = self.kb
        entry = kb.entries[entry_id]

        def text(other, relation: str | None = None) -> str:
            return (f"{relation} " if relation else "") + f"{other.name} ({other.date[:7]})"

        out = [Link("Parents", p.id, text(kb.entries[p.id], p.relation)) for p in entry.lineage]
        out += [Link("Children", c, text(kb.entries[c], link.relation)) for c, link in kb.children(entry_id)]
        out += [Link("Used by", a.id, text(a) + ("  first adopter" if i == 0 else ""))
                for i, a in enumerate(kb.adopters(entry_id))]
        return out

    def bibtex(self, entry_id: str) -> str:
        from evollm.export.bibtex import to_bibtex

        return to_bibtex([self.kb.entries[entry_id]], self.kb)


class History:
    """The entries left by a jump (a link, p, c, u, t), most recent last; `back` returns there.
    Moving the cursor is not a visit, as scrolling a page is not."""

    def __init__(self, limit: int = 500) -> None:
        self.visited: list[str] = []
        self.limit = limit

    def leave(self, entry_id: str | None) -> None:
        if entry_id is not None and (not self.visited or self.visited[-1] != entry_id):
            self.visited.append(entry_id)
            del self.visited[:-self.limit]

    def back(self) -> str | None:
        return self.visited.pop() if self.visited else None
