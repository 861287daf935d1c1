"""Pure queries behind the read commands: year ranges, filters, ranked search, the overview."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from evollm.errors import UsageError
from evollm.index import TOKEN as _TOKEN
from evollm.index import WEIGHTS as _WEIGHTS
from evollm.index import search_fields, search_postings  # noqa: F401  (search_postings: kept importable here)
from evollm.kb import KnowledgeBase, normalize

FIRST_YEAR = 1990


def parse_years(text: str | None) -> tuple[int, int] | None:
    """'2019' -> (2019, 2019); '2017..2020' or '2017-2020' -> (2017, 2020); '2024..' -> 2024 to this
    year; '..2018' -> the first year to 2018; None -> None (every year). One grammar for every command."""
    if text is None:
        return None
    last_year = dt.date.today().year
    accepted = (f"accepted: a year like 2019 or a range like 2017..2020, 2017-2020, 2024.. or ..2018, "
                f"between {FIRST_YEAR} and {last_year}")
    match = re.fullmatch(r"\s*([0-9]{4})?\s*(\.\.|-)?\s*([0-9]{4})?\s*", text)
    if not match or not (match.group(1) or match.group(3)) or (match.group(2) is None and match.group(3)) \
            or (match.group(2) == "-" and not (match.group(1) and match.group(3))):
        raise UsageError(f"invalid year {text!r}; {accepted}")
    first, sep, second = match.groups()
    start = int(first) if first else FIRST_YEAR
    end = int(second) if second else (last_year if sep else start)
    for year in (start, end):
        if not FIRST_YEAR <= year <= last_year:
            raise UsageError(f"year {year} is out of range; {accepted}")
    if start > end:
        raise UsageError(f"range {text!r} runs backwards; write {end}..{start}")
    return start, end


def filter_entries(
    kb: KnowledgeBase,
    *,
    years: tuple[int, int] | None = None,
    lab: str | None = None,
    kind: str | None = None,
    topic: str | None = None,
    family: str | None = None,
) -> list:
    """Entries in date order that pass every given filter (lab: substring, case-insensitive)."""
    from evollm.vocab import KINDS, TOPICS

    kind = None if kind is None else choose(kind, KINDS, "kind")
    topic = None if topic is None else choose(topic, TOPICS, "topic")
    if family is not None:
        check_family(kb, family)
    lab_key = lab.casefold() if lab else None
    family_key = normalize(family) if family else None
    out = []
    for entry in kb:
        if years and not years[0] <= entry.year <= years[1]:
            continue
        if lab_key and not any(lab_key in name.casefold() for name in entry.labs):
            continue
        if kind and entry.kind != kind:
            continue
        if topic and topic not in entry.topics:
            continue
        if family_key and (not entry.family or normalize(entry.family) != family_key):
            continue
        out.append(entry)
    return out


def did_you_mean(text: str, names) -> str:
    """'; did you mean 'model'?' for the names spelled closest to `text`, or ''."""
    import difflib

    folded = {name.casefold(): name for name in names}
    close = difflib.get_close_matches(text.casefold(), list(folded), n=2, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(folded[c]) for c in close)}?" if close else ""


def choose(text: str, names, what: str) -> str:
    """`text` as one of `names`, in any case; UsageError with "did you mean" and the names otherwise."""
    for name in names:
        if name.casefold() == text.strip().casefold():
            return name
    raise UsageError(f"unknown {what} {text!r}{did_you_mean(text, names)} (accepted: {', '.join(names)})")


def check_family(kb: KnowledgeBase, family: str) -> str:
    """The family's spelling in the data, or NotFound listing the known families."""
    families = {normalize(name): name for name in kb.families()}
    if normalize(family) not in families:
        known = ", ".join(sorted(families.values(), key=str.casefold)) or "none"
        raise UsageError(f"unknown family {family!r}; known families: {known}{did_you_mean(family, families.values())}")
    return families[normalize(family)]


MAX_QUERY_CHARS = 500
MAX_QUERY_WORDS = 20  # different words; a word given twice counts once


def search(kb: KnowledgeBase, text: str, limit: int = 20) -> list[tuple[float, object]]:
    """(score, entry) best first. Every word must start a word somewhere in the entry's name,
    aliases, arXiv id, title, authors, key ideas, problem or solution; each field adds weight x
    occurrences (at most 3 per field); an exact name adds 100. Ties: oldest first, then id. A word
    given twice counts once; a query is at most MAX_QUERY_CHARS characters and MAX_QUERY_WORDS
    different words."""
    if len(text) > MAX_QUERY_CHARS:
        raise UsageError(f"search text of {len(text)} characters; at most {MAX_QUERY_CHARS}")
    words = list(dict.fromkeys(w for w in _TOKEN.findall(text.casefold()) if w))
    if not words:
        raise UsageError("empty search text; give one or more words, e.g. evollm search attention")
    if len(words) > MAX_QUERY_WORDS:
        raise UsageError(f"search text of {len(words)} different words; at most {MAX_QUERY_WORDS}")
    if limit < 1:
        raise UsageError("--limit must be at least 1")
    index = kb.token_index()
    scores = None
    if index is not None:
        scores = _scores_from_index(index, words, list(kb.entries))
    if scores is None:
        scores = _scores_by_scanning(kb, words)
    target = normalize(text)
    names = kb.name_index()
    if target in names and names[target] in scores:
        # The exact name wins. The name index keeps one id per spelling, as `resolve` does.
        scores[names[target]] = scores[names[target]] + 100
    position = kb.position()
    ranked = sorted(scores.items(), key=lambda item: (-item[1], position[item[0]], item[0]))
    return [(score, kb.entries[entry_id]) for entry_id, score in ranked[:limit]]


def _scores_by_scanning(kb: KnowledgeBase, words: list[str]) -> dict[str, float]:
    """The plain version: regular expressions over every entry's text."""
    patterns = [re.compile(r"\b" + re.escape(word)) for word in words]
    scores = {}
    for entry in kb:
        fields = search_fields(entry)
        score = 0.0
        for pattern in patterns:
            hit = [weight * min(3, len(pattern.findall(fields[i]))) for i, (_, weight) in enumerate(_WEIGHTS)]
            if not any(hit):
                break
            score += sum(hit)
        else:
            scores[entry.id] = score
    return scores


def _scores_from_index(index, words: list[str], ids: list[str]) -> dict[str, float] | None:
    """The same scores from the cache's token index (cache.TokenIndex): a word matches the
    tokens it is a prefix of, and each field's count (summed over those tokens) is capped at 3
    before weighting. None if a row is damaged (the caller then scans)."""
    weights = [w for _, w in _WEIGHTS]
    total: dict[int, float] | None = None
    for word in words:
        rows = [index.row(number) for number in index.matching(word)]
        if any(row is None for row in rows):
            return None
        if len(rows) == 1:  # the usual case: the token's own scores are the word's scores
            positions, scores, _ = rows[0]
            word_scores = dict(zip(map(int, positions.split()), map(float, scores.split())))
        else:
            counts: dict[int, list[int]] = {}
            for positions, _, per_field in rows:
                for position, row in zip(map(int, positions.split()), per_field.split()):
                    row_counts = list(map(int, row.split(",")))
                    slot = counts.get(position)
                    counts[position] = row_counts if slot is None else [x + y for x, y in zip(slot, row_counts)]
            word_scores = {p: sum(w * min(3, n) for w, n in zip(weights, per_field))
                           for p, per_field in counts.items()}
        total = word_scores if total is None else {p: s + word_scores[p] for p, s in total.items() if p in word_scores}
    return {ids[p]: score for p, score in (total or {}).items()}


def load_eras(path: Path | None = None) -> dict[int, dict]:
    """Year -> {title, summary} from eras.yaml next to the papers folder (empty if none)."""
    from evollm import cache
    from evollm.kb import _package_data

    path = path or _package_data().parent / "eras.yaml"
    if not path.is_file():
        return {}
    data = cache.parsed_file(path, _read_eras)
    return {int(year): item for year, item in data.items()}


def _read_eras(path: Path) -> dict:
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(item["year"]): item for item in data.get("eras", [])}


def overview_rows(kb: KnowledgeBase, eras: dict[int, dict], headlines: int = 4) -> list[dict]:
    """One row per year: era title, entry count, the entries with the most children."""
    by_year: dict[int, list] = {}
    for entry in kb:
        by_year.setdefault(entry.year, []).append(entry)
    rows = []
    for year in sorted(by_year):
        items = sorted(by_year[year], key=lambda e: (-len(kb.children(e.id)), e.date, e.id))
        rows.append({
            "year": year,
            "era": eras.get(year, {}).get("title", ""),
            "count": len(by_year[year]),
            "headlines": [e.name for e in items[:headlines]],
        })
    return rows


def card_context(kb: KnowledgeBase, entry) -> dict:
    """What the card of `entry` shows besides the entry itself, as keyword arguments of
    `render.card.card`: its parents and children (entry, relation, note), what it uses, who
    adopted it, how many entries it influenced, whether a local correction replaced it."""
    from evollm import graph

    return {
        "parents": [(kb.entries[p.id], p.relation, p.note) for p in entry.lineage],
        "children": [(kb.entries[c], link.relation, link.note) for c, link in kb.children(entry.id)],
        "uses": [kb.entries[u] for u in entry.uses],
        "adopted_by": kb.adopters(entry.id),
        "influenced": len(graph.descendants(kb, entry.id, depth=2)),
        "overridden": entry.id in kb.overridden,
        "path": str(kb.paths[entry.id]),
    }


def entries_json(entries: Iterable) -> list[dict]:
    return [entry_json(e) for e in entries]


def entry_json(entry) -> dict:
    return entry.model_dump(mode="json", exclude_none=True)


# --- answers: what the read commands show, each with its JSON shape -----------------------------


@dataclass(frozen=True)
class Card:
    """`show`'s answer: an entry with its neighbourhood in the lineage."""

    entry: object
    parents: list  # (entry, relation, note)
    children: list  # (entry, relation, note)
    uses: list
    adopted_by: list
    influenced: int  # descendants within two generations
    local_correction: bool  # a file of the user's own replaces the shipped entry
    path: str

    def to_json(self) -> dict:
        return {**entry_json(self.entry),
                "children": [{"id": c.id, "relation": r, "note": n} for c, r, n in self.children],
                "influenced": self.influenced, "adopted_by": [e.id for e in self.adopted_by],
                "local_correction": self.local_correction}


def card(kb: KnowledgeBase, entry) -> Card:
    from evollm import graph

    return Card(
        entry,
        parents=[(kb.entries[p.id], p.relation, p.note) for p in entry.lineage],
        children=[(kb.entries[c], link.relation, link.note) for c, link in kb.children(entry.id)],
        uses=[kb.entries[u] for u in entry.uses],
        adopted_by=kb.adopters(entry.id),
        influenced=len(graph.descendants(kb, entry.id, depth=2)),
        local_correction=entry.id in kb.overridden,
        path=str(kb.paths[entry.id]),
    )


@dataclass(frozen=True)
class Hits:
    """`search`'s answer: (score, entry), best first."""

    text: str
    ranked: list

    def to_json(self) -> list[dict]:
        return [{**entry_json(e), "score": round(s, 2)} for s, e in self.ranked]

    @property
    def entries(self) -> list:
        return [entry for _, entry in self.ranked]


def hits(kb: KnowledgeBase, text: str, limit: int = 20) -> Hits:
    return Hits(text, search(kb, text, limit))


@dataclass(frozen=True)
class Tallies:
    """`stats`'s answer: how many entries, and (value, count) rows by year, kind, architecture, family,
    lab and topic."""

    entries: int
    counts: dict

    def to_json(self) -> dict:
        return {"entries": self.entries, **{f"by_{name}": dict(rows) for name, rows in self.counts.items()}}


def tallies(entries) -> Tallies:
    """(value, count) by year, kind, architecture, family, lab and topic.

    Years and kinds keep their natural order; the others run from the most common down.
    An entry with several labs or topics counts once under each.
    """
    from evollm.vocab import KINDS

    entries = list(entries)

    def ranked(counter: Counter) -> list[tuple[str, int]]:
        return sorted(counter.items(), key=lambda item: (-item[1], item[0].casefold()))

    years = Counter(str(e.year) for e in entries)
    kinds = Counter(e.kind for e in entries)
    return Tallies(len(entries), {
        "year": sorted(years.items()),
        "kind": [(k, kinds[k]) for k in KINDS if kinds[k]],
        "architecture": ranked(Counter(e.architecture for e in entries if e.architecture)),
        "family": ranked(Counter(e.family for e in entries if e.family)),
        "lab": ranked(Counter(lab for e in entries for lab in dict.fromkeys(e.labs))),
        "topic": ranked(Counter(t for e in entries for t in dict.fromkeys(e.topics))),
    })



def resolve(kb: KnowledgeBase, text: str):
    """The entry `text` names (id, alias, loose spelling or arXiv id). When none does, NotFound offers
    the best search matches first (`rotary` -> rope), then the closest spellings (`encc` -> enc)."""
    from evollm.errors import NotFound

    try:
        return kb.resolve(text)
    except NotFound as exc:
        try:
            found = [entry.id for _, entry in search(kb, text, 3)]
        except UsageError:  # not searchable text (punctuation only, too long): the spelling hints stand
            raise exc from None
        if not found:
            raise
        spelled = kb.close_ids(normalize(text))
        ids = list(dict.fromkeys(found + spelled))[:3]
        raise NotFound(f"no entry {text!r}; did you mean {' or '.join(repr(i) for i in ids)}?") from None
