"""BibTeX: one @misc per paper, with stable citation keys like vaswani2017attention.

Two entries describing the same arXiv paper (Codex and HumanEval) become one BibTeX entry. Keys are
computed over the whole knowledge base, not over the exported entries, so a filter never changes a
key. An arXiv paper is dated by its eprint (the id's month): that is the version a reader finds.
Text is escaped for LaTeX; braces stay balanced, which BibTeX counts even after a backslash.

But: primaryClass only where the entry records its arXiv category (`arxiv_category`).
"""

from __future__ import annotations

import re
import unicodedata

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")

# Words a citation key skips when it takes the title's first word.
_STOP_WORDS = frozenset(
    "a an and are as at by can do does for from how in is it of on or the to toward towards via what when "
    "where which why with without".split()
)

# Letters NFKD does not take apart into an ASCII letter and an accent.
_ASCII = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "ß": "ss", "æ": "ae",
                        "Æ": "AE", "œ": "oe", "Œ": "OE", "ı": "i", "þ": "th", "ð": "d"})

_LATEX = {
    "\\": r"\textbackslash{}", "{": r"\textbraceleft{}", "}": r"\textbraceright{}", "%": r"\%", "&": r"\&",
    "$": r"\$", "#": r"\#", "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}
_LATEX_SPECIAL = re.compile("|".join(re.escape(c) for c in _LATEX))

# An author that is an organisation ("Gemini Team", "OpenAI") is braced, so BibTeX never splits it.
_ORGANISATION = re.compile(r"\b(team|ai|lab|labs|group|research|inc|corporation|university|institute)\b", re.I)


def latex(text: str) -> str:
    """Text safe inside a braced BibTeX value: LaTeX specials escaped, whitespace collapsed."""
    return _LATEX_SPECIAL.sub(lambda m: _LATEX[m.group()], " ".join(text.split()))


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.translate(_ASCII))
    return "".join(c for c in decomposed if c.isascii())


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", _ascii(text).lower())


def _is_organisation(name: str) -> bool:
    return len(name.split()) == 1 or bool(_ORGANISATION.search(name))


def _authors(entry) -> list[str]:
    """The authors, else the labs (as organisations); 'et al.' dropped (written as 'others')."""
    return [a for a in entry.authors if a.strip().rstrip(".").lower() != "et al"] or list(entry.labs)


def _surname(name: str) -> str:
    if _is_organisation(name):
        return name.split()[0]
    words = [w for w in name.split() if w.rstrip(".").lower() not in ("jr", "sr", "ii", "iii")]
    return words[-1] if words else name


def base_key(entry) -> str:
    """surname + year + first significant title word: vaswani2017attention."""
    authors = _authors(entry)
    surname = _slug(_surname(authors[0])) if authors else "anon"
    words = [_slug(w) for w in entry.title.split()]
    word = next((w for w in words if w and w not in _STOP_WORDS), "") or next((w for w in words if w), "")
    return f"{surname or 'anon'}{_year_month(entry)[0]}{word}"


def paper_of(entry) -> str:
    """What identifies the paper an entry describes: its arXiv id, else the entry itself."""
    return f"arXiv:{entry.arxiv}" if entry.arxiv else f"entry:{entry.id}"


def citation_keys(kb) -> dict[str, str]:
    """Paper (see `paper_of`) -> a unique key; clashes get b, c, ... in date order."""
    keys: dict[str, str] = {}
    used: set[str] = set()
    for entry in kb:
        paper = paper_of(entry)
        if paper in keys:
            continue
        base = key = base_key(entry)
        suffix = iter("bcdefghijklmnopqrstuvwxyz")
        while key in used:
            key = base + next(suffix, f"x{len(used)}")
        used.add(key)
        keys[paper] = key
    return keys


def _year_month(entry) -> tuple[int, int]:
    if entry.arxiv:
        return 2000 + int(entry.arxiv[:2]), int(entry.arxiv[2:4])
    return int(entry.date[:4]), int(entry.date[5:7])


def _title(entry) -> str:
    """The title with words that carry capitals past their first letter braced (BERT, GPT-3, LLaMA),
    so a style that lower-cases titles leaves them alone."""
    return " ".join("{" + w + "}" if re.search(r"[A-Z]", w[1:]) else w for w in latex(entry.title).split(" "))


def _author_field(entry) -> str:
    names = []
    for name in _authors(entry):
        text = latex(name)
        names.append("{" + text + "}" if _is_organisation(name) or re.search(r"\band\b", name, re.I) else text)
    if len(names) < len(entry.authors) or any(a.strip().rstrip(".").lower() == "et al" for a in entry.authors):
        names.append("others")
    return " and ".join(names)


def _url(entry) -> str | None:
    if entry.arxiv:
        return f"https://arxiv.org/abs/{entry.arxiv}"
    from evollm.text import safe_url

    url = safe_url(entry.links.get("paper") or entry.links.get("blog") or next(iter(entry.links.values()), None))
    # A URL is verbatim in biblatex and in \url: only braces (never in a valid one) need care.
    return url.replace("{", "%7B").replace("}", "%7D") if url else None


def bib_entry(entry, key: str) -> str:
    year, month = _year_month(entry)
    fields = [("title", "{" + _title(entry) + "}"), ("author", "{" + _author_field(entry) + "}"),
              ("year", "{" + str(year) + "}"), ("month", _MONTHS[month - 1])]
    if entry.arxiv:
        fields += [("eprint", "{" + entry.arxiv + "}"), ("archivePrefix", "{arXiv}")]
        if entry.arxiv_category:
            fields.append(("primaryClass", "{" + entry.arxiv_category + "}"))
    url = _url(entry)
    if url:
        fields.append(("url", "{" + url + "}"))
    body = ",\n".join(f"  {name} = {value}" for name, value in fields)
    return f"@misc{{{key},\n{body}\n}}\n"


def to_bibtex(entries, kb) -> str:
    """One @misc per paper among `entries`, in their order."""
    keys = citation_keys(kb)
    out, done = [], set()
    for entry in entries:
        paper = paper_of(entry)
        if paper in done:
            continue
        done.add(paper)
        out.append(bib_entry(entry, keys[paper]))
    return "\n".join(out)
