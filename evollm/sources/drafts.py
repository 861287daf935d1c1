"""Drafting a new entry from an arXiv paper (`evollm add --arxiv`).

The draft is a `status: draft` entry: title, date, authors, category and links come from arXiv
(through `arxiv.py`), the name and the id from the title's short name; problem and solution are
left for a person to write, and the abstract follows as a comment to help them. arXiv's API has
no affiliations, so the labs are a placeholder for a person to fill in.

The checks that need no request come first, the file is validated before it is written, and it is
written atomically (`fileio.write_atomic`), so a failure or an interruption leaves nothing behind.

The helpers that write YAML in the knowledge base's forms (`_inline`, `_author_list`,
`_validate_text`) are shared with `compare.py`, whose --fix rewrites fields the same way.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from pathlib import Path

from evollm.errors import CannotWrite, EvollmError, UsageError
from evollm.sources.arxiv import Pacer, Paper, abs_url, endpoint, fetch_paper, parse_arxiv_id

AUTHORS_IN_FULL = 15  # a draft lists every author up to this many,
AUTHORS_SHOWN = 10  # else this many and "et al." (the knowledge base's convention)
LABS_PLACEHOLDER = "(to be checked)"

# --- names and ids ------------------------------------------------------------------------------


def short_name(title: str) -> str:
    """The name a title goes by: the part before a colon ("BERT: Pre-training ..." -> "BERT")."""
    head = title.split(":", 1)[0].strip()
    return head if head and ":" in title else title.strip()


def slugify(text: str, limit: int = 60) -> str:
    """A lower-case id from text: letters, digits, dots and hyphens, cut at a hyphen near `limit`."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9.]+", "-", ascii_text.lower())
    slug = re.sub(r"-{2,}", "-", slug).strip("-.")
    if len(slug) > limit:
        slug = slug[:limit].rsplit("-", 1)[0].strip("-.")
    return slug


def default_id(paper: Paper) -> str:
    return slugify(short_name(paper.title)) or f"arxiv-{paper.arxiv_id}"


# --- writing entries in the knowledge base's forms ----------------------------------------------


def _inline(value) -> str:
    """`value` as a one-line YAML scalar or flow list, quoted only where YAML needs it."""
    import yaml

    text = yaml.safe_dump([value], default_flow_style=True, allow_unicode=True, width=2**31 - 1)
    return text.strip()[1:-1]


def _author_list(authors: tuple[str, ...] | list[str], shown: int | None = None) -> list[str]:
    """All authors up to AUTHORS_IN_FULL, else the first few and "et al."."""
    authors = list(authors)
    if shown is None:
        shown = len(authors) if len(authors) <= AUTHORS_IN_FULL else AUTHORS_SHOWN
    return authors if shown >= len(authors) else [*authors[:max(1, shown)], "et al."]


def _comment(text: str, width: int = 96) -> list[str]:
    """`text` as YAML comment lines; characters YAML refuses or reads as line breaks are dropped."""
    import textwrap

    clean = "".join(c for c in " ".join(text.split()) if c.isprintable())
    return [f"#   {line}" for line in textwrap.wrap(clean, width)] or ["#   (none)"]


def _validate_text(text: str, display: str) -> None:
    """Raise an EvollmError unless `text` is a valid entry (it is about to be written), read as
    the knowledge base reads its files (`kb.parse_entry`: duplicate keys refused at any depth)."""
    from evollm.kb import parse_entry
    from evollm.text import visible

    _, problems = parse_entry(text, display, Path(display).stem)
    if problems:
        first = problems[0]
        where = f"{first.field}: " if first.field else ""
        raise EvollmError(visible(f"{display} would not be a valid entry ({where}{first.message}); nothing written"))


# --- the draft ----------------------------------------------------------------------------------


_CATEGORY = re.compile(r"[a-z-]+(?:\.[A-Z]{2}|\.[a-z-]+)?", re.ASCII)  # cs.CL, hep-th, physics.comp-ph
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def draft_category(paper: Paper) -> str | None:
    """arXiv's primary category if it has the shape of one (cs.CL, hep-th), else None."""
    category = paper.primary_category or ""
    return category if _CATEGORY.fullmatch(category) else None


def draft_date(paper: Paper) -> str:
    """The first version's day, or the id's month when they disagree (the schema wants the id's month)."""
    from evollm.models import arxiv_month

    day, month = paper.published[:10], arxiv_month(paper.arxiv_id)
    ok = _DAY.fullmatch(day) and day[:7] == month and day <= dt.date.today().isoformat()
    return day if ok else month


def draft_yaml(paper: Paper, entry_id: str, kind: str = "method") -> str:
    """The text of a new `status: draft` entry for `paper`, with the abstract as a comment.

    Every value from the network goes through the YAML emitter (`_inline`) or has been checked
    against a strict pattern (the id by `parse_arxiv_id`, the category and the day here)."""
    parse_arxiv_id(paper.arxiv_id)  # the id we asked for; checked again, as it goes in unquoted
    url = abs_url(paper.arxiv_id)
    category = draft_category(paper)
    lines = [
        f"# Drafted from arXiv {paper.arxiv_id} ({category or 'no category'}) by `evollm add` "
        f"on {dt.date.today().isoformat()}.",
        "# To finish it: write problem and solution (and key_ideas, topics, lineage), replace the labs",
        "# placeholder with the organisations the paper names (arXiv's API has no affiliations), check",
        "# name and kind, then delete the status line. `evollm validate` warns until then.",
        f"id: {entry_id}",
        f"name: {_inline(short_name(paper.title))}",
        f"title: {_inline(paper.title)}",
        f"date: {draft_date(paper)}",  # checked: YYYY-MM-DD or the id's month
        # the schema asks a day-precision date beside an arXiv id to say what that day was
        *([f"date_note: The first arXiv version is dated {draft_date(paper)}."] if len(draft_date(paper)) == 10 else []),
        f'labs: ["{LABS_PLACEHOLDER}"]  # the organisations the paper names: arXiv\'s API has none',
        f"kind: {kind}",
        f"authors: {_inline(_author_list(paper.authors))}",
        f'arxiv: "{paper.arxiv_id}"',
        *([f"arxiv_category: {_inline(category)}"] if category else []),
        "links:",
        f"  paper: {url}",
        "sources:",
        f"  - {url}",
        'problem: ""  # two to four sentences: what was hard or wrong before this paper',
        'solution: ""  # two to four sentences: what the paper does about it',
        "status: draft",
        "",
        "# The abstract, from arXiv, for whoever writes problem and solution (a comment, not a field):",
        *_comment(paper.summary),
    ]
    return "\n".join(lines) + "\n"


# --- adding it ----------------------------------------------------------------------------------


def _clashes(kb, entry_id: str | None, arxiv_id: str | None, force: bool) -> None:
    """Refuse an id or arXiv id the knowledge base already has (unless `force`), and any id whose
    spelling collides with another entry's (that would make the whole knowledge base invalid)."""
    from evollm.kb import normalize

    if arxiv_id is not None and not force:
        for entry in kb:
            if entry.arxiv == arxiv_id:
                raise EvollmError(f"arXiv {arxiv_id} is already entry {entry.id!r} ({kb.paths[entry.id]}); "
                                  "use --force to add it anyway")
    if entry_id is None:
        return
    if entry_id in kb.entries and not force:
        raise EvollmError(f"entry {entry_id!r} exists ({kb.paths[entry_id]}); choose another id with --id, "
                          "or use --force to replace it")
    key = normalize(entry_id)
    for entry in kb:
        if entry.id != entry_id and key in {normalize(entry.id), *map(normalize, entry.aliases)}:
            raise EvollmError(f"id {entry_id!r} is too close to entry {entry.id!r} (its id or an alias); "
                              "choose another with --id")


def add_from_arxiv(raw_id: str, *, entry_id: str | None = None, data: Path | None = None,
                   kind: str = "method", force: bool = False, pacer: Pacer | None = None) -> tuple[Path, Paper]:
    """Write a draft entry for an arXiv paper into `data` (else the user's folder): (its path, the paper).

    Every check that needs no request comes first; the file is written atomically and last, so a
    failure or an interruption leaves nothing behind.
    """
    from evollm.fileio import FileExists, write_atomic
    from evollm.kb import data_dirs, load_knowledge_base
    from evollm.models import SLUG
    from evollm.vocab import KINDS

    arxiv_id = parse_arxiv_id(raw_id)
    if entry_id is not None and not re.fullmatch(SLUG, entry_id):
        raise UsageError(f"--id {entry_id!r} is not an id: lower-case letters, digits, dots and hyphens, "
                         "starting with a letter or digit")
    if kind not in KINDS:
        raise UsageError(f"unknown kind {kind!r}; accepted: {', '.join(KINDS)}")
    endpoint()
    folder = data_dirs(data)[-1]
    kb = load_knowledge_base(data)
    _clashes(kb, entry_id, arxiv_id, force)
    paper = fetch_paper(arxiv_id, pacer=pacer)
    new_id = entry_id or default_id(paper)
    _clashes(kb, new_id, None, force)
    target = folder / f"{new_id}.yaml"
    text = draft_yaml(paper, new_id, kind)
    _validate_text(text, str(target))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(target, text, overwrite=force)
    except FileExists:
        raise
    except OSError as exc:
        raise CannotWrite(f"cannot write {target}: {exc.strerror or exc}") from None
    return target, paper
