"""arXiv's metadata for the knowledge base: fetch it, draft a new entry from it, compare entries with it.

Requests go through the `arxiv` package (`Client`/`Search` by `id_list`), at most `BATCH` ids per
request and never more than one request every `MIN_INTERVAL` seconds, as arXiv's terms of use ask
(the time of the last request is kept in the cache folder, so two commands in a row keep the
interval too). The endpoint is $EVOLLM_ARXIV_API, so tests and mirrors can point it elsewhere.
Answers are cached on disk with the time they were fetched.

Every failure becomes one evollm error: `NetworkError` (exit 4) for an unreachable, slow, refusing
or garbled arXiv; `NotFound` (exit 1) for an id arXiv does not have. The `arxiv` package reads
answers with a forgiving XML parser (a truncated answer would look like fewer papers), so each
answer is first parsed strictly here.

But: only new-style ids (2305.18290; old ones like hep-th/9901001 are not in the schema), and no
affiliations (arXiv's API has none): a draft's labs are a placeholder for a person to fill in.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from evollm.errors import EvollmError, NetworkError, NotFound, UsageError

DEFAULT_ENDPOINT = "https://export.arxiv.org/api/query"
MIN_INTERVAL = 3.0  # seconds between two requests to arXiv (its terms of use)
BATCH = 100  # ids per request
TIMEOUT = 20.0  # seconds to wait for arXiv to connect, and then for each part of its answer
RETRIES = 1  # tries after the first, for a timeout, a refused connection or an HTTP 5xx
CACHE_DAYS = 30  # cached answers older than this are fetched again
AUTHORS_IN_FULL = 15  # a draft lists every author up to this many,
AUTHORS_SHOWN = 10  # else this many and "et al." (the knowledge base's convention)
LABS_PLACEHOLDER = "(to be checked)"

ProgressFn = Callable[[int, int], None]  # (ids done, ids to fetch)

_ATOM = "{http://www.w3.org/2005/Atom}"

# The `arxiv` package logs warnings (skipped entries, ...); with no handler anywhere Python would
# print them on stderr. Every failure reaches the user as one evollm error instead.
logging.getLogger("arxiv").addHandler(logging.NullHandler())

# --- ids ----------------------------------------------------------------------------------------

_ID = r"(\d{2})(\d{2})\.(\d{4,5})(?:v\d+)?"
_ID_FORMS = (
    re.compile(rf"(?:arxiv:)?{_ID}", re.IGNORECASE),
    re.compile(rf"(?:https?://)?(?:www\.|export\.)?arxiv\.org/(?:abs|pdf)/{_ID}(?:\.pdf)?/?(?:[?#].*)?",
               re.IGNORECASE),
)


def parse_arxiv_id(text: str) -> str:
    """The bare id (2305.18290) of 2305.18290, 2305.18290v2, arXiv:2305.18290 or an abs/pdf URL."""
    raw = text.strip()
    for form in _ID_FORMS:
        match = form.fullmatch(raw)
        if match:
            year, month, number = match.groups()
            # New-style ids began in 2007-04 with four digits after the dot, five from 2015-01.
            if 1 <= int(month) <= 12 and (year, month) >= ("07", "04") and len(number) == (4 if year < "15" else 5):
                return f"{year}{month}.{number}"
            break
    raise UsageError(f"{text!r} is not an arXiv id; give one like 2305.18290, 2305.18290v2, "
                     "arXiv:2305.18290 or https://arxiv.org/abs/2305.18290")


def abs_url(arxiv_id: str) -> str:
    return f"https://arxiv.org/abs/{arxiv_id}"


def endpoint() -> str:
    """arXiv's query API: $EVOLLM_ARXIV_API, else arXiv's own."""
    url = os.environ.get("EVOLLM_ARXIV_API") or DEFAULT_ENDPOINT
    if not re.match(r"^https?://[^\s/?#]+", url):
        raise UsageError(f"EVOLLM_ARXIV_API must be an http(s) URL like {DEFAULT_ENDPOINT}, got {url!r}")
    return url


# --- papers -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Paper:
    """What arXiv says about one paper (its latest version, and when the first appeared)."""

    arxiv_id: str
    title: str
    authors: tuple[str, ...]
    published: str  # the first version's submission time, ISO 8601 in UTC
    summary: str
    primary_category: str
    abs_url: str
    pdf_url: str | None = None

    @classmethod
    def from_json(cls, data: dict) -> Paper:
        return cls(**{**data, "authors": tuple(data["authors"])})

    def to_json(self) -> dict:
        return {**asdict(self), "authors": list(self.authors)}


def _paper(result) -> Paper:
    """A Paper from an `arxiv.Result`."""
    published = result.published.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
    return Paper(
        arxiv_id=_bare(result.get_short_id()),
        title=" ".join(result.title.split()),
        authors=tuple(" ".join(a.name.split()) for a in result.authors),
        published=published,
        summary=" ".join(result.summary.split()),
        primary_category=result.primary_category,
        abs_url=next((link.href for link in result.links if link.rel == "alternate"), result.entry_id),
        pdf_url=result.pdf_url,
    )


def _bare(short_id: str) -> str:
    return re.sub(r"v\d+$", "", short_id)


# --- pacing -------------------------------------------------------------------------------------


class Pacer:
    """Keeps requests at least `interval` seconds apart, also across runs when given a `state` file.

    `clock` and `sleep` are injectable so a test can prove the spacing without waiting.
    """

    def __init__(self, interval: float | None = None, *, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep, state: Path | None = None):
        self.interval = MIN_INTERVAL if interval is None else interval
        self.clock, self.sleep, self.state = clock, sleep, state
        self.last: float | None = None
        if state is not None:
            try:
                self.last = float(state.read_text())
            except (OSError, ValueError):
                pass

    def wait(self) -> None:
        """Sleep until a request is allowed, and count one as sent now."""
        if self.last is not None:
            # min(): a clock set back since the last request never makes us wait longer than one interval
            gap = min(self.interval, self.last + self.interval - self.clock())
            if gap > 0:
                self.sleep(gap)
        self.last = self.clock()
        if self.state is not None:
            try:
                self.state.parent.mkdir(parents=True, exist_ok=True)
                self.state.write_text(repr(self.last))
            except OSError:
                pass


def _default_pacer() -> Pacer:
    from evollm.cache import cache_dir

    return Pacer(state=cache_dir() / "arxiv-last-request")


# --- the cache ----------------------------------------------------------------------------------


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class AnswerCache:
    """arXiv's answers by id, each with when it was fetched; `None` records "arXiv has no such paper"."""

    def __init__(self, path: Path | None = None):
        from evollm.cache import cache_dir

        self.path = path or cache_dir() / "arxiv.json"
        self.answers: dict[str, dict] = {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get("version") == 1 and isinstance(data.get("answers"), dict):
                self.answers = data["answers"]
        except (OSError, ValueError):
            pass  # no cache yet, or an unreadable one: start afresh

    def get(self, arxiv_id: str, max_age: dt.timedelta) -> tuple[bool, Paper | None, str | None]:
        """(found, paper or None, when fetched) for an answer younger than `max_age`."""
        answer = self.answers.get(arxiv_id)
        try:
            fetched = dt.datetime.fromisoformat(answer["fetched"].replace("Z", "+00:00"))
            if dt.datetime.now(dt.timezone.utc) - fetched > max_age:
                return False, None, None
            paper = Paper.from_json(answer["paper"]) if answer["paper"] is not None else None
        except (TypeError, KeyError, ValueError, AttributeError):
            return False, None, None
        return True, paper, answer["fetched"]

    def put(self, arxiv_id: str, paper: Paper | None, fetched: str) -> None:
        self.answers[arxiv_id] = {"fetched": fetched, "paper": paper.to_json() if paper else None}

    def save(self) -> None:
        """Write the cache; failing to is no error (the cache only saves requests)."""
        from evollm.fileio import write_atomic

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, json.dumps({"version": 1, "answers": self.answers}, ensure_ascii=False),
                         overwrite=True)
        except (OSError, EvollmError):
            pass


# --- fetching -----------------------------------------------------------------------------------


class _Status(Exception):
    """arXiv answered with an HTTP status other than 200."""

    def __init__(self, status: int, reason: str = ""):
        super().__init__(status)
        self.status, self.reason = status, reason


class _Garbled(Exception):
    """arXiv's answer is not the Atom feed it should be."""


def _error_summary(content: bytes) -> str:
    """The text of an arXiv error entry (<entry><title>Error</title><summary>why</summary>), if any."""
    from lxml import etree

    try:
        root = etree.fromstring(content, etree.XMLParser(resolve_entities=False, no_network=True, recover=True))
        return " ".join((root.findtext(f"{_ATOM}entry/{_ATOM}summary") or "").split()) if root is not None else ""
    except (etree.XMLSyntaxError, ValueError):
        return ""


def _check_answer(content: bytes) -> None:
    """Raise _Garbled unless `content` is a well-formed Atom feed whose entries have what a paper needs."""
    from lxml import etree

    if not content.strip():
        raise _Garbled("the answer is empty")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(content, parser)
    except etree.XMLSyntaxError as exc:
        raise _Garbled(f"not well-formed XML (line {exc.lineno}: {exc.msg})") from None
    if root.tag != f"{_ATOM}feed":
        raise _Garbled(f"expected an Atom <feed>, got <{etree.QName(root).localname}>")
    for entry in root.iterfind(f"{_ATOM}entry"):
        entry_id = (entry.findtext(f"{_ATOM}id") or "").strip()
        if "/api/errors" in entry_id:
            raise _Status(200, " ".join((entry.findtext(f"{_ATOM}summary") or "").split()))
        for tag in ("id", "title", "published", "updated"):
            if not (entry.findtext(f"{_ATOM}{tag}") or "").strip():
                raise _Garbled(f"an entry has no <{tag}>")
        for tag in ("published", "updated"):
            when = entry.findtext(f"{_ATOM}{tag}").strip()
            try:
                dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
            except ValueError:
                raise _Garbled(f"an entry's <{tag}> is not a time: {when!r}") from None


def _session():
    """A requests session that times out and checks every answer before the `arxiv` package reads it."""
    import requests

    class CheckedSession(requests.Session):
        def request(self, method, url, *args, **kwargs):
            kwargs.setdefault("timeout", TIMEOUT)
            response = super().request(method, url, *args, **kwargs)
            if response.status_code != 200:
                raise _Status(response.status_code, _error_summary(response.content))
            _check_answer(response.content)
            return response

    return CheckedSession()


def _client(url: str, session, interval: float):
    """An `arxiv.Client` that asks `url` with `session`, without retries of its own (ours are paced)."""
    import arxiv

    # delay_seconds only matters if the package asks for a second page itself, which an id_list
    # of at most BATCH ids never needs; a fresh client per batch never sleeps before its first.
    client = arxiv.Client(page_size=BATCH, delay_seconds=interval, num_retries=0)
    client.query_url_format = url.replace("{", "{{").replace("}", "}}") + ("&" if "?" in url else "?") + "{}"
    client._session = session  # the package has no public hook for a timeout or for checking answers
    return client


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc or url


def _network_error(exc: BaseException, url: str) -> EvollmError:
    """The one-line evollm error for a failed request."""
    import arxiv
    import requests

    host = _host(url)
    if isinstance(exc, _Status):
        if exc.status == 429:
            return NetworkError(f"arXiv ({host}) asks us to slow down (HTTP 429); wait a few minutes and try again")
        if exc.status >= 500:
            return NetworkError(f"arXiv ({host}) is failing (HTTP {exc.status}); try again later")
        what = f"HTTP {exc.status}" if exc.status != 200 else "an error entry"
        return NetworkError(f"arXiv ({host}) refused the request ({what}){': ' + exc.reason if exc.reason else ''}")
    if isinstance(exc, _Garbled):
        return NetworkError(f"arXiv's answer ({host}) is broken: {exc}")
    if isinstance(exc, requests.Timeout):
        return NetworkError(f"arXiv ({host}) did not answer within {TIMEOUT:g} s; try again later")
    if isinstance(exc, requests.ConnectionError):
        why = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", str(exc))
        return NetworkError(f"cannot reach arXiv ({host}): {why.group(1).strip() if why else 'no connection'}; "
                            "is the network down?")
    if isinstance(exc, requests.RequestException):
        return NetworkError(f"cannot read arXiv's answer ({host}): {type(exc).__name__}")
    if isinstance(exc, arxiv.ArxivError):
        return NetworkError(f"arXiv ({host}) answered badly: {exc.message}")
    return NetworkError(f"arXiv ({host}): {exc}")


def _fetch_batch(batch: list[str], url: str, session, pacer: Pacer) -> dict[str, Paper]:
    """arXiv's papers for up to BATCH ids, in one paced request (plus RETRIES after passing failures)."""
    import arxiv
    import requests

    search = arxiv.Search(id_list=batch, max_results=len(batch))
    for attempt in range(RETRIES + 1):
        pacer.wait()
        try:
            results = list(_client(url, session, pacer.interval).results(search))
            break
        except (_Status, _Garbled, requests.RequestException, arxiv.ArxivError) as exc:
            passing = (isinstance(exc, _Status) and exc.status >= 500) or isinstance(
                exc, (requests.Timeout, requests.ConnectionError))
            if passing and attempt < RETRIES:
                continue
            raise _network_error(exc, url) from None
    wanted = set(batch)
    return {p.arxiv_id: p for p in map(_paper, results) if p.arxiv_id in wanted}


@dataclass
class Answers:
    papers: dict[str, Paper | None]  # id -> arXiv's paper, None if arXiv has none
    cached: int = 0  # how many came from the cache
    oldest: str | None = None  # when the oldest of those was fetched
    requests: int = 0


def fetch_papers(ids: Iterable[str], *, use_cache: bool = True, refresh: bool = False,
                 pacer: Pacer | None = None, progress: ProgressFn | None = None) -> Answers:
    """arXiv's answer for every id, from the cache where fresh (unless `refresh`), else fetched."""
    ids = list(dict.fromkeys(ids))
    cache = AnswerCache() if use_cache else None
    answers = Answers(papers={})
    if cache is not None and not refresh:
        for arxiv_id in ids:
            found, paper, fetched = cache.get(arxiv_id, dt.timedelta(days=CACHE_DAYS))
            if found:
                answers.papers[arxiv_id] = paper
                answers.cached += 1
                answers.oldest = min(answers.oldest or fetched, fetched)
    todo = [i for i in ids if i not in answers.papers]
    if todo:
        url = endpoint()
        pacer = pacer or _default_pacer()
        session = _session()
        if progress:
            progress(0, len(todo))
        try:
            for start in range(0, len(todo), BATCH):
                batch = todo[start:start + BATCH]
                found = _fetch_batch(batch, url, session, pacer)
                answers.requests += 1
                fetched = _now()
                for arxiv_id in batch:
                    answers.papers[arxiv_id] = found.get(arxiv_id)
                    if cache is not None:
                        cache.put(arxiv_id, found.get(arxiv_id), fetched)
                if cache is not None:
                    cache.save()  # after each batch: an interrupted run keeps what it fetched
                if progress:
                    progress(min(start + BATCH, len(todo)), len(todo))
        finally:
            session.close()
    return Answers({i: answers.papers[i] for i in ids}, answers.cached, answers.oldest, answers.requests)


def fetch_paper(arxiv_id: str, *, pacer: Pacer | None = None) -> Paper:
    """arXiv's paper `arxiv_id`, fetched now; NotFound if arXiv has none."""
    paper = fetch_papers([arxiv_id], use_cache=False, pacer=pacer).papers[arxiv_id]
    if paper is None:
        raise NotFound(f"arXiv has no paper {arxiv_id} (its answer was empty)")
    return paper


# --- drafting a new entry -----------------------------------------------------------------------


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


def draft_date(paper: Paper) -> str:
    """The first version's day, or the id's month when they disagree (the schema wants the id's month)."""
    from evollm.models import arxiv_month

    day, month = paper.published[:10], arxiv_month(paper.arxiv_id)
    return day if day[:7] == month and day <= dt.date.today().isoformat() else month


def draft_yaml(paper: Paper, entry_id: str, kind: str = "method") -> str:
    """The text of a new `status: draft` entry for `paper`, with the abstract as a comment."""
    url = abs_url(paper.arxiv_id)
    lines = [
        f"# Drafted from arXiv {paper.arxiv_id} ({paper.primary_category or 'no category'}) by `evollm add` "
        f"on {dt.date.today().isoformat()}.",
        "# To finish it: write problem and solution (and key_ideas, topics, lineage), replace the labs",
        "# placeholder with the organisations the paper names (arXiv's API has no affiliations), check",
        "# name and kind, then delete the status line. `evollm validate` warns until then.",
        f"id: {entry_id}",
        f"name: {_inline(short_name(paper.title))}",
        f"title: {_inline(paper.title)}",
        f"date: {draft_date(paper)}",
        f'labs: ["{LABS_PLACEHOLDER}"]  # the organisations the paper names: arXiv\'s API has none',
        f"kind: {kind}",
        f"authors: {_inline(_author_list(paper.authors))}",
        f'arxiv: "{paper.arxiv_id}"',
        *([f"arxiv_category: {paper.primary_category}"] if paper.primary_category else []),
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


def _validate_text(text: str, display: str) -> None:
    """Raise an EvollmError unless `text` is a valid entry (it is about to be written)."""
    import yaml
    from pydantic import ValidationError

    from evollm.models import Entry

    try:
        Entry.model_validate(yaml.safe_load(text))
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise EvollmError(f"{display} would not be a valid entry ({where}: {first['msg']}); nothing written") from None


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
        raise EvollmError(f"cannot write {target}: {exc.strerror or exc}") from None
    return target, paper


# --- comparing entries with arXiv ---------------------------------------------------------------


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


def apply_fixes(kb, report: Report) -> None:
    """Rewrite the title and authors of each entry that differs from arXiv; record the diffs in `report`.

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
        _validate_text(new, str(path))
        planned.append((path, old, new, found))
    for path, old, new, found in planned:
        try:
            write_atomic(path, new, overwrite=True)
        except OSError as exc:
            raise EvollmError(f"cannot write {path}: {exc.strerror or exc}") from None
        diff = "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                            fromfile=str(path), tofile=str(path)))
        report.fixed.append((path, diff, [m.field for m in found]))
        report.fixed_fields |= {(m.entry_id, m.field) for m in found}
