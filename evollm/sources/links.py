"""Whether the knowledge base's URLs still answer: every link checked concurrently with httpx.

Each URL is asked with HEAD, then with GET where HEAD is refused (many servers answer HEAD with
403, 404, 405 or 501 but serve the page), following redirects. A timeout, a failed connection, an
HTTP 429 or 5xx is tried once more after `RETRY_DELAY`. At most `concurrency` requests run at
once, and at most `PER_HOST` to one host, so arxiv.org and github.com are not hammered.

A link is `ok`, `redirected` (it answers, elsewhere), `blocked` (401, 403 or 429: the server turns
away automated checks, so its state is unknown) or `dead` (any other 4xx or 5xx, no answer, a
timeout). Only dead links fail `evollm check links`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from evollm import __version__
from evollm.errors import NetworkError

CONCURRENCY = 8
PER_HOST = 2
TIMEOUT = 10.0  # seconds for one whole request (connect, headers; the body is never read)
BUDGET = 900.0  # seconds for the whole check; then the hosts still answering are named
RETRIES = 1
RETRY_DELAY = 1.0  # seconds before the retry
BLOCKED = frozenset({401, 403, 429})
USER_AGENT = f"evollm/{__version__} (link check; +https://pypi.org/project/evollm/)"


@dataclass(frozen=True)
class LinkState:
    url: str
    state: str  # ok, redirected, blocked, dead
    status: int | None  # the final HTTP status, None without an answer
    detail: str = ""
    final_url: str | None = None  # where a redirect led

    @property
    def answered(self) -> bool:
        return self.status is not None


@dataclass(frozen=True)
class Finding:
    """One URL of one entry, and its state."""

    entry_id: str
    where: str  # the field: links.paper, sources[0], ...
    link: LinkState

    def to_json(self) -> dict:
        return {"id": self.entry_id, "where": self.where, "url": self.link.url, "state": self.link.state,
                "status": self.link.status, "detail": self.link.detail, "final_url": self.link.final_url}


def urls_of(entry) -> list[tuple[str, str]]:
    """(field, URL) for each URL of an entry: its links, then its sources."""
    return [(f"links.{kind}", url) for kind, url in entry.links.items()] + \
           [(f"sources[{i}]", url) for i, url in enumerate(entry.sources)]


def check_entries(entries: Iterable, *, concurrency: int = CONCURRENCY, timeout: float = TIMEOUT,
                  transport=None, progress: Callable[[int, int], None] | None = None) -> list[Finding]:
    """The state of every URL of `entries` (each distinct URL asked once), entry by entry.

    NetworkError when not one URL got an answer: the network, not the links, is down.
    """
    pairs = [(entry.id, where, url) for entry in entries for where, url in urls_of(entry)]
    states = check_urls([url for _, _, url in pairs], concurrency=concurrency, timeout=timeout,
                        transport=transport, progress=progress)
    if states and not any(s.answered for s in states.values()):
        first = next(iter(states.values()))
        raise NetworkError(f"none of {len(states)} links answered (first: {first.url}: {first.detail}); "
                           "is the network down?")
    return [Finding(entry_id, where, states[url]) for entry_id, where, url in pairs]


def check_urls(urls: Iterable[str], *, concurrency: int = CONCURRENCY, timeout: float = TIMEOUT,
               transport=None, progress: Callable[[int, int], None] | None = None) -> dict[str, LinkState]:
    """URL -> its state, for each distinct URL. `transport` replaces the network (httpx.MockTransport)."""
    import asyncio

    unique = list(dict.fromkeys(urls))
    return asyncio.run(_check_all(unique, concurrency, timeout, transport, progress))


async def _check_all(urls, concurrency, timeout, transport, progress) -> dict[str, LinkState]:
    """Every URL's state, within BUDGET seconds in all (NetworkError naming the slow hosts)."""
    import asyncio
    from urllib.parse import urlsplit

    pending: dict[str, int] = {}  # host -> requests in flight
    try:
        return await asyncio.wait_for(_check_each(urls, concurrency, timeout, transport, progress, pending), BUDGET)
    except TimeoutError:
        hosts = sorted(host for host, n in pending.items() if n) or sorted({urlsplit(u).hostname or u for u in urls})
        from evollm.text import visible

        raise NetworkError(visible(f"checking links ran out of its {BUDGET:g} s budget; still waiting on "
                                   f"{', '.join(hosts[:5])}{' and more' if len(hosts) > 5 else ''}")) from None


async def _check_each(urls, concurrency, timeout, transport, progress, pending) -> dict[str, LinkState]:
    import asyncio
    from collections import defaultdict
    from urllib.parse import urlsplit

    import httpx

    gate = asyncio.Semaphore(concurrency)
    per_host: defaultdict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(PER_HOST))
    done = 0
    if progress:
        progress(0, len(urls))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=httpx.Timeout(timeout), follow_redirects=True, limits=limits,
                                 transport=transport, headers={"user-agent": USER_AGENT}) as client:

        async def one(url: str) -> LinkState:
            nonlocal done
            # The host's slot first: a request waiting for its host must not hold one of the global slots.
            host = (urlsplit(url).hostname or "").lower()
            async with per_host[host], gate:
                pending[host] = pending.get(host, 0) + 1
                try:
                    state = await _check_one(client, url, timeout)
                finally:
                    pending[host] -= 1
            done += 1
            if progress:
                progress(done, len(urls))
            return state

        states = await asyncio.gather(*(one(url) for url in urls))
    return dict(zip(urls, states))


async def _check_one(client, url: str, timeout: float = TIMEOUT) -> LinkState:
    """The state of one URL; each try (HEAD, then GET if HEAD is refused) bounded by `timeout`
    seconds in all, so a server that sends a byte every few seconds is still "timed out"."""
    import asyncio

    import httpx

    failure = "no answer"
    for attempt in range(RETRIES + 1):
        if attempt:
            await asyncio.sleep(RETRY_DELAY)
        try:
            response = await asyncio.wait_for(_ask(client, url), timeout)
        except TimeoutError:  # the whole try took longer than `timeout` (asyncio's, in 3.11+)
            failure = f"timed out ({timeout:g} s in all)"
            continue
        except httpx.TooManyRedirects:
            return LinkState(url, "dead", None, "too many redirects")
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            return LinkState(url, "dead", None, f"not a usable URL ({exc})")
        except httpx.TimeoutException:
            failure = "timed out"
            continue
        except httpx.TransportError as exc:
            failure = _transport_failure(exc)
            continue
        if (response.status_code >= 500 or response.status_code == 429) and attempt < RETRIES:
            continue
        return _state(url, response)
    return LinkState(url, "dead", None, failure)


async def _ask(client, url: str):
    """HEAD, then GET where HEAD is refused."""
    response = await client.head(url)
    if _head_refused(response.status_code):
        response = await _get(client, url)
    return response


def _head_refused(status: int) -> bool:
    """Whether to ask again with GET: many servers refuse HEAD (403, 404, 405, 501) yet serve the page.
    Not after a 429 or another 5xx: GET would only add load to a server that is struggling."""
    return status == 501 or (400 <= status < 500 and status != 429)


async def _get(client, url: str):
    """The response to GET without reading its body (the status is all we need)."""
    async with client.stream("GET", url) as response:
        return response


def _transport_failure(exc) -> str:
    import httpx

    if isinstance(exc, httpx.ConnectError):
        text = str(exc)
        if "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
            return "no such host"
        return "cannot connect" + (f" ({text})" if text and len(text) < 80 else "")
    return type(exc).__name__


def _state(url: str, response) -> LinkState:
    status, final = response.status_code, str(response.url)
    if status in BLOCKED:
        return LinkState(url, "blocked", status, f"HTTP {status}: the server refuses automated checks")
    if status >= 400:
        moved = f" (after a redirect to {final})" if response.history else ""
        return LinkState(url, "dead", status, f"HTTP {status}{moved}", final if response.history else None)
    if response.history:
        first = response.history[0].status_code
        return LinkState(url, "redirected", status, f"HTTP {first} to {final}", final)
    return LinkState(url, "ok", status)
