"""`evollm check links`: httpx's MockTransport for the rules, the local server for the command."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from evollm.errors import NetworkError
from evollm.sources import links
from test_arxiv import LocalServer, assert_one_clean_line, closed_port


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setattr(links, "RETRY_DELAY", 0.0)


def run(urls, handler, **kwargs):
    return links.check_urls(urls, transport=httpx.MockTransport(handler), **kwargs)


def test_states():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path))
        path = request.url.path
        if path == "/ok":
            return httpx.Response(200)
        if path == "/gone":
            return httpx.Response(404)
        if path == "/moved":
            return httpx.Response(301, headers={"Location": "https://example.org/ok"})
        if path == "/moved-to-nothing":
            return httpx.Response(302, headers={"Location": "/gone"})
        if path == "/no-head":
            return httpx.Response(405 if request.method == "HEAD" else 200)
        if path == "/head-not-implemented":
            return httpx.Response(501 if request.method == "HEAD" else 200)
        if path == "/bots-not-welcome":
            return httpx.Response(403)
        raise AssertionError(path)

    base = "https://example.org"
    states = run([f"{base}/ok", f"{base}/gone", f"{base}/moved", f"{base}/moved-to-nothing", f"{base}/no-head",
                  f"{base}/head-not-implemented", f"{base}/bots-not-welcome", f"{base}/ok"], handler)
    assert {url.rsplit("/", 1)[1]: (s.state, s.status) for url, s in states.items()} == {
        "ok": ("ok", 200), "gone": ("dead", 404), "moved": ("redirected", 200), "moved-to-nothing": ("dead", 404),
        "no-head": ("ok", 200), "head-not-implemented": ("ok", 200), "bots-not-welcome": ("blocked", 403)}
    assert states[f"{base}/moved"].final_url == f"{base}/ok"
    assert states[f"{base}/moved"].detail == f"HTTP 301 to {base}/ok"
    assert "after a redirect to" in states[f"{base}/moved-to-nothing"].detail
    assert seen.count(("HEAD", "/ok")) == 2  # the repeated URL was asked once (plus once after /moved)
    assert ("GET", "/no-head") in seen and ("GET", "/ok") not in seen  # GET only where HEAD was refused


def test_one_retry_for_passing_failures():
    calls: dict[str, int] = {}

    def handler(request):
        path = request.url.path
        calls[path] = calls.get(path, 0) + 1
        if path == "/flaky":
            return httpx.Response(503 if calls[path] == 1 else 200)
        if path == "/down":
            return httpx.Response(503)
        if path == "/slow":
            raise httpx.ReadTimeout("timed out", request=request)
        if path == "/refused":
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        raise AssertionError(path)

    states = run([f"https://a.example/{p}" for p in ("flaky", "down", "slow", "refused")], handler)
    result = {url.rsplit("/", 1)[1]: (s.state, s.detail) for url, s in states.items()}
    assert result["flaky"] == ("ok", "")
    assert result["down"] == ("dead", "HTTP 503")
    assert result["slow"] == ("dead", "timed out")
    assert result["refused"][0] == "dead" and "cannot connect" in result["refused"][1]
    # Two HEADs each: after a 5xx, no GET (it would only add load), but one retry.
    assert calls == {"/flaky": 2, "/down": 2, "/slow": 2, "/refused": 2}


def test_bounded_concurrency_overall_and_per_host():
    in_flight: dict[str, int] = {}
    peak = {"all": 0}
    peak_host: dict[str, int] = {}

    async def handler(request):
        host = request.url.host
        in_flight[host] = in_flight.get(host, 0) + 1
        peak["all"] = max(peak["all"], sum(in_flight.values()))
        peak_host[host] = max(peak_host.get(host, 0), in_flight[host])
        await asyncio.sleep(0.01)
        in_flight[host] -= 1
        return httpx.Response(200)

    urls = [f"https://host{h}.example/{n}" for h in range(6) for n in range(5)]
    progress = []
    states = run(urls, handler, concurrency=4, progress=lambda done, total: progress.append((done, total)))
    assert all(s.state == "ok" for s in states.values()) and len(states) == 30
    assert peak["all"] == 4
    assert max(peak_host.values()) == links.PER_HOST
    assert progress[0] == (0, 30) and progress[-1] == (30, 30) and len(progress) == 31


def test_no_answer_at_all_means_the_network_is_down():
    class Entry:
        id, links, sources = "e", {"paper": "https://a.example/x"}, ["https://b.example/y"]

    def handler(request):
        raise httpx.ConnectError("[Errno -3] Temporary failure in name resolution", request=request)

    with pytest.raises(NetworkError, match="none of 2 links answered .*is the network down"):
        links.check_entries([Entry()], transport=httpx.MockTransport(handler))


def test_urls_of_an_entry():
    class Entry:
        links = {"paper": "https://arxiv.org/abs/1", "code": "https://github.com/x/y"}
        sources = ["https://arxiv.org/abs/1", "https://blog.example/post"]

    assert links.urls_of(Entry()) == [
        ("links.paper", "https://arxiv.org/abs/1"), ("links.code", "https://github.com/x/y"),
        ("sources[0]", "https://arxiv.org/abs/1"), ("sources[1]", "https://blog.example/post"),
    ]


# --- the command, against a local server --------------------------------------------------------


def respond(method, path, query):
    if path == "/ok":
        return 200, {}, b"fine"
    if path == "/moved":
        return 301, {"Location": "/ok"}, b""
    if path == "/no-head":
        return (405 if method == "HEAD" else 200), {}, b"page"
    return 404, {}, b"not here"


ENTRY = """\
id: {id}
name: {name}
title: A Title for {name}
date: 2020-01
labs: [Lab]
kind: method
problem: P.
solution: S.
links:
  paper: {base}/ok
  code: {base}/{code}
sources:
  - {base}/ok
  - {base}/{source}
"""


def write_kb(path, base, rows):
    path.mkdir()
    for entry_id, code, source in rows:
        (path / f"{entry_id}.yaml").write_text(ENTRY.format(id=entry_id, name=entry_id.title(), base=base,
                                                            code=code, source=source))
    return path


def test_check_links_reports_dead_and_redirected(cli, tmp_path):
    with LocalServer(respond) as server:
        kb = write_kb(tmp_path / "kb", server.url, [("alpha", "moved", "no-head"), ("beta", "gone", "ok")])
        result = cli("check", "links", "--data", kb)
        assert result.exit_code == 1, result.output
        rows = [line.split() for line in result.stdout.splitlines()[1:]]
        assert rows[0][:4] == ["beta", "links.code", "dead", f"{server.url}/gone"] and rows[0][4:] == ["HTTP", "404"]
        assert rows[1][:4] == ["alpha", "links.code", "redirected", f"{server.url}/moved"]
        assert len(rows) == 2
        assert result.stderr == "4 links of 2 entries checked: 1 dead, 1 redirected, 0 blocked.\n"
        methods = [(m, p) for m, p, _ in server.requests]
        assert ("GET", "/no-head") in methods and ("GET", "/ok") not in methods

        as_json = cli("check", "links", "--data", kb, "--json")
        assert as_json.exit_code == 1
        found = {(r["id"], r["where"]): r for r in json.loads(as_json.stdout)}
        assert len(found) == 8
        assert found[("beta", "links.code")]["state"] == "dead" and found[("beta", "links.code")]["status"] == 404
        assert found[("alpha", "links.code")]["final_url"] == f"{server.url}/ok"
        assert found[("alpha", "sources[1]")]["state"] == "ok"

        only_alpha = cli("check", "links", "alpha", "--data", kb)
        assert only_alpha.exit_code == 0, only_alpha.output  # redirected is reported, not a failure
        assert "redirected" in only_alpha.stdout


def test_check_links_network_down(cli, tmp_path):
    kb = write_kb(tmp_path / "kb", f"http://127.0.0.1:{closed_port()}", [("alpha", "a", "b")])
    result = cli("check", "links", "--data", kb, "--timeout", "2")
    assert_one_clean_line(result, 4, "none of 3 links answered")


@pytest.mark.parametrize("args, message", [
    (["--concurrency", "0"], "Invalid value for '--concurrency'"),
    (["--timeout", "0"], "--timeout must be more than 0 seconds"),
])
def test_check_links_usage(cli, tmp_path, args, message):
    result = cli("check", "links", *args, "--data", tmp_path)
    assert result.exit_code == 2 and message in result.stderr
