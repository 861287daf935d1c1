"""Talking to arXiv: its ids, its papers, and fetching them politely.

Requests go through the `arxiv` package (`Client`/`Search` by `id_list`), at most `BATCH` ids per
request and never more than one request every `MIN_INTERVAL` seconds, as arXiv's terms of use ask
(the time of the last request is kept in the cache folder, so two commands in a row keep the
interval too). The endpoint is $EVOLLM_ARXIV_API, so tests and mirrors can point it elsewhere.
Answers are cached on disk with the time they were fetched.

Every failure becomes one evollm error: `NetworkError` (exit 4) for an unreachable, slow, refusing
or garbled arXiv; `NotFound` (exit 1) for an id arXiv does not have. The `arxiv` package reads
answers with a forgiving XML parser (a truncated answer would look like fewer papers), so each
answer is first parsed strictly here.

But: only new-style ids (2305.18290; old ones like hep-th/9901001 are not in the schema).

What is done with the papers lives beside this module: `drafts.py` writes a new entry from one
(`evollm add`), `compare.py` compares entries with them and fixes what differs (`evollm check arxiv`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from evollm.arxiv_ids import parse_arxiv_id  # noqa: F401  (read there; used here and by drafts, compare)
from evollm.errors import EvollmError, NetworkError, NotFound, UsageError

DEFAULT_ENDPOINT = "https://export.arxiv.org/api/query"
MIN_INTERVAL = 3.0  # seconds between two requests to arXiv (its terms of use)
BATCH = 100  # ids per request
TIMEOUT = 20.0  # seconds for one whole request: connecting, the headers and the body
BUDGET = 300.0  # seconds for all the requests of one command, pauses between them included
MAX_ANSWER_BYTES = 8 * 1024 * 1024  # a batch of 100 papers is ~300 KB; more is refused
MAX_REDIRECTS = 3  # within the endpoint's own origin only
RETRIES = 1  # tries after the first, for a timeout, a refused connection or an HTTP 5xx
CACHE_DAYS = 30  # cached answers older than this are fetched again

ProgressFn = Callable[[int, int], None]  # (ids done, ids to fetch)

_ATOM = "{http://www.w3.org/2005/Atom}"

# The `arxiv` package logs warnings (skipped entries, ...); with no handler anywhere Python would
# print them on stderr. Every failure reaches the user as one evollm error instead.
logging.getLogger("arxiv").addHandler(logging.NullHandler())

# --- ids ----------------------------------------------------------------------------------------

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
    return re.sub(r"v[0-9]+$", "", short_id)


# --- pacing -------------------------------------------------------------------------------------


class Pacer:
    """Keeps requests at least `interval` seconds apart, also across runs when given a `state` file.

    With a state file, the time of the last request is read, waited on and written under an
    exclusive lock (`state`.lock, flock), so concurrent runs keep the spacing too; the file is
    read without following a link and written through `write_atomic`, which never writes
    through one. `clock` and `sleep` are injectable so a test can prove the spacing without
    waiting.
    """

    def __init__(self, interval: float | None = None, *, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep, state: Path | None = None):
        self.interval = MIN_INTERVAL if interval is None else interval
        self.clock, self.sleep, self.state = clock, sleep, state
        self.last: float | None = None  # this process's last request

    def _stored(self) -> float | None:
        from evollm.fileio import read_private

        try:
            return float(read_private(self.state) or b"")
        except (TypeError, ValueError):
            return None

    def wait(self) -> None:
        """Sleep until a request is allowed, and count one as sent now."""
        with self._locked():
            known = [t for t in (self.last, self._stored() if self.state is not None else None) if t is not None]
            if known:
                # min(): a clock set back since the last request never makes us wait longer than one interval
                gap = min(self.interval, max(known) + self.interval - self.clock())
                if gap > 0:
                    self.sleep(gap)
            self.last = self.clock()
            if self.state is not None:
                from evollm.fileio import write_atomic

                try:
                    write_atomic(self.state, repr(self.last), overwrite=True, private=True)
                except (OSError, EvollmError):
                    pass  # a link or an unwritable folder: the spacing holds for this run only

    @contextmanager
    def _locked(self):
        """An exclusive lock beside the state file for as long as a wait lasts (none without one)."""
        try:
            import fcntl
        except ImportError:  # not on POSIX: no lock
            fcntl = None
        fd = None
        if self.state is not None and fcntl is not None:
            from evollm.fileio import private_dir

            try:
                private_dir(self.state.parent)
                fd = os.open(self.state.with_name(self.state.name + ".lock"),
                             os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError:
                if fd is not None:
                    os.close(fd)
                fd = None
        try:
            yield
        finally:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)


def _default_pacer() -> Pacer:
    from evollm.cache import cache_dir

    return Pacer(state=cache_dir() / "arxiv-last-request")


# --- the cache ----------------------------------------------------------------------------------


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def answer_cache_path() -> Path:
    """Where arXiv's answers are kept between runs."""
    from evollm.cache import cache_dir

    return cache_dir() / "arxiv.json"


class AnswerCache:
    """arXiv's answers by id, each with when it was fetched; `None` records "arXiv has no such paper"."""

    def __init__(self, path: Path | None = None):
        self.path = path or answer_cache_path()
        self.answers: dict[str, dict] = {}
        from evollm.fileio import read_private

        try:
            data = json.loads(read_private(self.path) or b"")  # not this user's own: not trusted
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
        from evollm.fileio import private_dir, write_atomic

        try:
            private_dir(self.path.parent)
            write_atomic(self.path, json.dumps({"version": 1, "answers": self.answers}, ensure_ascii=False),
                         overwrite=True, private=True)
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


class _TooSlow(Exception):
    """A request, or the command's requests together, ran out of time."""

    def __init__(self, seconds: float, what: str = "did not answer within"):
        super().__init__(seconds)
        self.seconds, self.what = seconds, what


class _TooLarge(Exception):
    """arXiv's answer is larger than MAX_ANSWER_BYTES."""


class _Offsite(Exception):
    """arXiv's endpoint redirected to another origin (or from https to http)."""

    def __init__(self, location: str):
        super().__init__(location)
        self.location = location


def _origin(url: str) -> tuple[str, str, int | None]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


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


def _bounded_get(session_request, method: str, url: str, kwargs: dict, seconds: float):
    """The response to one request, its body read (at most MAX_ANSWER_BYTES), within `seconds`
    in all (connecting, headers and body), redirects followed only within the URL's origin.

    The request runs in a daemon thread and this one waits for it with a deadline: a server
    that sends a byte every few seconds never trips a per-read timeout, but it cannot hold
    the command past the deadline."""
    import queue
    import threading
    from urllib.parse import urljoin

    done: queue.Queue = queue.Queue(maxsize=1)
    cancelled = threading.Event()
    start = time.monotonic()

    def work() -> None:
        try:
            target, response = url, None
            for _ in range(MAX_REDIRECTS + 1):
                response = session_request(method, target, **{**kwargs, "allow_redirects": False, "stream": True,
                                                              "timeout": (seconds, seconds)})
                if not (response.is_redirect and response.headers.get("location")):
                    break
                following = urljoin(target, response.headers["location"])
                response.close()
                if _origin(following) != _origin(url):  # another host, port, or https -> http
                    raise _Offsite(following)
                target = following
            else:
                raise _Status(response.status_code, "too many redirects")
            declared = response.headers.get("content-length", "")
            if declared.isascii() and declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
                raise _TooLarge(int(declared))
            body, size = [], 0
            for chunk in response.iter_content(64 * 1024):
                if cancelled.is_set():
                    break
                size += len(chunk)
                if size > MAX_ANSWER_BYTES:
                    raise _TooLarge(size)
                body.append(chunk)
            response.close()
            response._content = b"".join(body)
            done.put(response)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            done.put(exc)

    threading.Thread(target=work, name="evollm-arxiv-request", daemon=True).start()
    try:
        outcome = done.get(timeout=max(0.0, seconds - (time.monotonic() - start)))
    except queue.Empty:
        cancelled.set()
        raise _TooSlow(seconds) from None
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def _session(deadline: float | None = None):
    """A requests session whose every request is bounded in time and size (see `_bounded_get`),
    stays on the endpoint's origin, and is checked before the `arxiv` package reads it.
    `deadline` (time.monotonic()) ends the command's requests as a whole."""
    import requests

    class CheckedSession(requests.Session):
        def request(self, method, url, *args, **kwargs):
            seconds = TIMEOUT
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise _TooSlow(BUDGET, "used up the command's budget of")
                seconds = min(seconds, left)
            response = _bounded_get(super().request, method, url, kwargs, seconds)
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
    if isinstance(exc, _TooSlow):
        return NetworkError(f"arXiv ({host}) {exc.what} {exc.seconds:g} s; try again later")
    if isinstance(exc, _TooLarge):
        return NetworkError(f"arXiv's answer ({host}) is larger than {MAX_ANSWER_BYTES // (1024 * 1024)} MB; "
                            "refused (is EVOLLM_ARXIV_API an arXiv endpoint?)")
    if isinstance(exc, _Offsite):
        from evollm.text import visible

        return NetworkError(visible(f"arXiv ({host}) redirected to another origin ({exc.location}); not followed: "
                                    "set EVOLLM_ARXIV_API to the address it moved to if you trust it"))
    if isinstance(exc, requests.Timeout):
        return NetworkError(f"arXiv ({host}) did not answer within {TIMEOUT:g} s; try again later")
    if isinstance(exc, requests.ConnectionError):
        why = re.search(r"\[Errno -?[0-9]+\] ([^'\")\]]+)", str(exc))
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
        except (_Status, _Garbled, _TooSlow, _TooLarge, _Offsite, requests.RequestException,
                arxiv.ArxivError) as exc:
            out_of_budget = isinstance(exc, _TooSlow) and exc.seconds == BUDGET
            passing = (isinstance(exc, _Status) and exc.status >= 500) or isinstance(
                exc, (requests.Timeout, requests.ConnectionError)) or (isinstance(exc, _TooSlow) and not out_of_budget)
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
        session = _session(deadline=time.monotonic() + BUDGET)
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
