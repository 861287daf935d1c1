"""Tokenising and postings for search: what the cache stores and `query.search` reads.

Below both `cache` and `query` (they import it; it imports no evollm module), so the cache can build
the search postings without importing the queries that read them.
"""

from __future__ import annotations

import re

# Field weights for search: a hit in a name (or an arXiv id) counts more than one in the prose.
WEIGHTS = (("name", 10.0), ("title", 4.0), ("authors", 3.0), ("key_ideas", 2.0), ("problem", 1.0),
           ("solution", 1.0))
TOKEN = re.compile(r"\w+")


def search_fields(entry) -> tuple[str, ...]:
    """The casefolded text of each weighted field, in `WEIGHTS` order."""
    return (
        " ".join([entry.name, entry.id, *entry.aliases, entry.arxiv or ""]).casefold(),
        entry.title.casefold(),
        " ".join(entry.authors).casefold(),
        " ".join(entry.key_ideas).casefold(),
        entry.problem.casefold(),
        entry.solution.casefold(),
    )


def search_postings(entries) -> dict[str, list[str]]:
    """token -> [positions, scores, counts]: what search reads on a large knowledge base instead
    of every entry's text. `positions` lists the entries (by date rank) holding the token,
    `scores` the token's own score in each (a word matching just this token scores exactly
    that), `counts` a count per weighted field for words that match several tokens. Kept as
    space-separated strings: a row decodes to three strings, not thousands of lists."""
    weights = [w for _, w in WEIGHTS]
    postings: dict[str, tuple[list[str], list[str], list[str]]] = {}
    rendered: dict[tuple[int, ...], tuple[str, str]] = {}  # counts -> (score, counts) as text; few distinct
    for position, entry in enumerate(entries):
        counts: dict[str, list[int]] = {}
        for field, text in enumerate(search_fields(entry)):
            for token in TOKEN.findall(text):
                counts.setdefault(token, [0] * len(WEIGHTS))[field] += 1
        where = str(position)
        for token, per_field in counts.items():
            key = tuple(per_field)
            text = rendered.get(key)
            if text is None:
                score = sum(w * min(3, n) for w, n in zip(weights, per_field))
                text = rendered[key] = (repr(score), ",".join(map(str, per_field)))
            rows = postings.setdefault(token, ([], [], []))
            rows[0].append(where)
            rows[1].append(text[0])
            rows[2].append(text[1])
    return {token: [" ".join(column) for column in rows] for token, rows in postings.items()}
