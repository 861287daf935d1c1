"""Comparing entries with arXiv, and fixing what differs (`evollm check arxiv [--fix]`).

`compare` sets an entry's title, date (the first version's month), arXiv category and authors
beside arXiv's paper (fetched by `arxiv.py`, in batches or from the cache); author names compare
without accents, case or punctuation, and "the first few and et al." agrees with a longer list
that starts with those few. `check_entries` does it for many entries at once into a `Report`.

`apply_fixes` (--fix) rewrites the fixable fields (title, arXiv category, authors) with
`set_field`, which changes one top-level field's line and keeps every comment and the rest of the
layout; each new text is validated before the first file is written. Files are rewritten in place
only in a folder of the user's own named with --data (or the user's own entries); a shipped
entry (in a wheel: inside site-packages) gets a local correction in the user's folder instead,
which the knowledge base reads in its place. Dates are never rewritten: a wrong one is reported
with what to set.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from evollm.errors import EvollmError, NotFound, UsageError
from evollm.sources.arxiv import Answers, Pacer, Paper, ProgressFn, fetch_papers, parse_arxiv_id
from evollm.sources.drafts import _author_list, _inline, _validate_text

# --- comparing one entry with arXiv -------------------------------------------------------------


@dataclass(frozen=True)
class Mismatch:
    """One way an entry differs from arXiv."""

    entry_id: str
    arxiv_id: str
    field: str  # title, date, authors, or arxiv (arXiv has no such paper)
    ours: str
    theirs: str
    note: str = ""
    fixable: bool = False  # --fix may rewrite it (title, authors)


_FOLD = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "ß": "ss", "æ": "ae",
                       "œ": "oe", "ı": "i"})


def _name_key(name: str) -> str:
    """How author names compare: without accents, case or punctuation ("Łukasz Kaiser" == "Lukasz Kaiser")."""
    plain = unicodedata.normalize("NFKD", name.translate(_FOLD))
    plain = "".join(c for c in plain if not unicodedata.combining(c)).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", plain).split())


def _title_key(title: str) -> str:
    return " ".join(title.split()).casefold().rstrip(".")


def _et_al(authors: list[str]) -> bool:
    return bool(authors) and authors[-1].strip().casefold() in ("et al.", "et al")


def _authors_agree(ours: list[str], theirs: tuple[str, ...]) -> bool:
    if _et_al(ours):  # "the first few and et al.": the few must be arXiv's first few
        listed = ours[:-1]
        return len(theirs) > len(listed) and [*map(_name_key, listed)] == [*map(_name_key, theirs[:len(listed)])]
    return [*map(_name_key, ours)] == [*map(_name_key, theirs)]


def fixed_authors(ours: list[str], theirs: tuple[str, ...]) -> list[str]:
    """arXiv's authors in our convention: as many listed before "et al." as we had, else all."""
    return _author_list(theirs, len(ours) - 1 if _et_al(ours) else None)


def _names(names) -> str:
    return ", ".join(names) if names else "(none)"


def compare(entry, paper: Paper | None) -> list[Mismatch]:
    """How `entry` differs from arXiv's `paper` in title, first-version month and authors."""
    from evollm.models import arxiv_month

    aid = entry.arxiv
    if paper is None:
        return [Mismatch(entry.id, aid, "arxiv", aid, "(no such paper)", "arXiv's answer for this id was empty")]
    out = []
    if _title_key(entry.title) != _title_key(paper.title):
        out.append(Mismatch(entry.id, aid, "title", entry.title, paper.title, fixable=True))
    # The date to expect: the first version's month, but never after the id's month (the schema
    # forbids it; a first version dated just past a month's end is a time-zone artefact).
    month = arxiv_month(aid)
    expected = min(paper.published[:7], month)
    if entry.date[:7] > expected or (entry.date[:7] != expected and not entry.date_note):
        note = (f"set date: {expected}, and say in date_note why it precedes the id's month, {month}"
                if expected != month else f"set date: {expected}")
        out.append(Mismatch(entry.id, aid, "date", entry.date, paper.published[:10], note))
    if entry.arxiv_category and paper.primary_category and entry.arxiv_category != paper.primary_category:
        out.append(Mismatch(entry.id, aid, "arxiv_category", entry.arxiv_category, paper.primary_category,
                            "arXiv's primary category", fixable=True))
    ours = list(entry.authors)
    if not _authors_agree(ours, paper.authors):
        wanted = fixed_authors(ours, paper.authors)
        theirs_keys = {_name_key(n) for n in paper.authors}
        ours_keys = {_name_key(n) for n in ours if not _et_al([n])}
        missing = [n for n in wanted if _name_key(n) not in ours_keys and n != "et al."]
        extra = [n for n in ours if _name_key(n) not in theirs_keys and not _et_al([n])]
        parts = ([f"not on arXiv: {', '.join(extra)}"] if extra else []) + \
                ([f"missing: {', '.join(missing)}"] if missing else [])
        out.append(Mismatch(entry.id, aid, "authors", _names(ours), _names(wanted),
                            "; ".join(parts) or "the same names in another order", fixable=True))
    return out


# --- checking entries ---------------------------------------------------------------------------


def select_entries(kb, wanted: list[str]) -> list:
    """The entries with an arXiv id, or those of `wanted` (ids, aliases or arXiv ids)."""
    if not wanted:
        return [e for e in kb if e.arxiv]
    chosen: dict[str, object] = {}
    for query in wanted:
        try:
            arxiv_id = parse_arxiv_id(query)
        except UsageError:
            arxiv_id = None
        matches = [e for e in kb if arxiv_id and e.arxiv == arxiv_id] or [kb.resolve(query)]
        for entry in matches:
            if not entry.arxiv:
                raise NotFound(f"entry {entry.id!r} has no arXiv id to check")
            chosen[entry.id] = entry
    return list(chosen.values())


@dataclass
class Report:
    checked: list  # the entries compared
    mismatches: list[Mismatch]
    answers: Answers
    fixed: list[tuple[Path, str, list[str]]] = field(default_factory=list)  # (file, diff, fields)
    fixed_fields: set[tuple[str, str]] = field(default_factory=set)  # (entry id, field) rewritten by --fix
    local_corrections: list[Path] = field(default_factory=list)  # fixes written beside, not over, an entry

    def to_json(self) -> list[dict]:
        return [{"id": m.entry_id, "arxiv": m.arxiv_id, "field": m.field, "ours": m.ours, "arxiv_value": m.theirs,
                 "note": m.note, "fixable": m.fixable, "fixed": (m.entry_id, m.field) in self.fixed_fields}
                for m in self.mismatches]

    @property
    def remaining(self) -> list[Mismatch]:
        """The mismatches --fix did not resolve."""
        return [m for m in self.mismatches if (m.entry_id, m.field) not in self.fixed_fields]


def check_entries(entries: list, *, refresh: bool = False, pacer: Pacer | None = None,
                  progress: ProgressFn | None = None) -> Report:
    """Compare each entry with arXiv's metadata (fetched in batches, or from the cache)."""
    answers = fetch_papers([e.arxiv for e in entries], refresh=refresh, pacer=pacer, progress=progress)
    mismatches = [m for e in entries for m in compare(e, answers.papers[e.arxiv])]
    return Report(entries, mismatches, answers)


# --- fixing -------------------------------------------------------------------------------------


def set_field(text: str, key: str, value, after: str = "title") -> str:
    """`text` with top-level `key` set to `value` (one line of YAML), the rest of the file untouched.

    A missing key is added on the line after `after`'s value.
    """
    import yaml

    root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    pairs = {k.value: (k, v) for k, v in root.value}
    if key in pairs:
        key_node, value_node = pairs[key]
        start = text.index(":", key_node.end_mark.index) + 1
        end = value_node.end_mark.index
        if isinstance(value_node, yaml.SequenceNode) and value_node.value and not value_node.flow_style:
            end = value_node.value[-1].end_mark.index  # a block list: stop at its last item, keep what follows
        replaced = text[start:end]
        kept = replaced[len(replaced.rstrip()):]  # the line break (and blank lines) after the value
        return text[:start] + " " + _inline(value) + kept + text[end:]
    _, anchor = pairs[after]
    line_end = text.find("\n", anchor.end_mark.index)
    line_end = len(text) if line_end < 0 else line_end
    return text[:line_end] + f"\n{key}: {_inline(value)}" + text[line_end:]


def _own_folder(folder: Path) -> bool:
    """Whether `folder` is this user's (its owner, and writable by them)."""
    try:
        getuid = getattr(os, "getuid", None)
        return (getuid is None or folder.stat().st_uid == getuid()) and os.access(folder, os.W_OK)
    except OSError:
        return False


def fix_target(path: Path, data: Path | None) -> Path:
    """Where the fixed text of the entry file `path` goes: the file itself when it is in the
    user's own entries or in a --data folder the user owns; else the same name in the user's
    folder (a local correction, read in place of the shipped entry)."""
    from evollm.kb import data_dirs, user_papers

    folder = path.parent.resolve()
    if data is not None and folder == data_dirs(data)[0].resolve() and _own_folder(folder):
        return path
    mine = user_papers()
    if folder == mine.resolve():
        return path
    return mine / path.name


def apply_fixes(kb, report: Report, data: Path | None = None) -> None:
    """Rewrite the title and authors of each entry that differs from arXiv (where: `fix_target`);
    record the diffs in `report`.

    Every new text is made and validated before the first file is written.
    """
    import difflib

    from evollm.fileio import write_atomic

    by_entry: dict[str, list[Mismatch]] = {}
    for m in report.mismatches:
        if m.fixable:
            by_entry.setdefault(m.entry_id, []).append(m)
    planned = []
    for entry_id, found in by_entry.items():
        entry, path = kb.entries[entry_id], Path(kb.paths[entry_id])
        paper = report.answers.papers[entry.arxiv]
        old = new = path.read_text(encoding="utf-8")
        for m in found:
            value = {"title": lambda: paper.title, "arxiv_category": lambda: paper.primary_category,
                     "authors": lambda: fixed_authors(list(entry.authors), paper.authors)}[m.field]()
            new = set_field(new, m.field, value)
        target = fix_target(path, data)
        _validate_text(new, str(target))
        planned.append((path, target, old, new, found))
    for path, target, old, new, found in planned:
        try:
            if target != path:
                target.parent.mkdir(parents=True, exist_ok=True)
                report.local_corrections.append(target)
            write_atomic(target, new, overwrite=True)
        except OSError as exc:
            raise EvollmError(f"cannot write {target}: {exc.strerror or exc}") from None
        diff = "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                            fromfile=str(path), tofile=str(target)))
        report.fixed.append((target, diff, [m.field for m in found]))
        report.fixed_fields |= {(m.entry_id, m.field) for m in found}
