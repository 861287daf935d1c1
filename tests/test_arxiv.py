"""`evollm add --arxiv` and `evollm check arxiv`, against a local server that answers like arXiv.

`LocalServer` is a real HTTP server on 127.0.0.1 (also used by test_links.py). `FakeArxiv` answers
arXiv's query API from tests/fixtures/arxiv/*.xml, hand-written in arXiv's exact format:

- empty.xml: the answer for an id arXiv does not have (HTTP 200, totalResults 0, no entry), in
  arXiv's current format (every namespace declared on <feed>);
- 2305.18290.xml: one paper in the current format: <id> with its version, title, updated, the abs
  (rel="alternate") and pdf (title="pdf") links, summary, category, published (the first
  version), arxiv:primary_category, then author/name;
- 1706.03762.xml: one paper in arXiv's classic format (namespaces declared on each element, a
  title wrapped over two lines, http:// links): both formats must read the same;
- 2401.00001.xml: made-up content (a first version dated in the month before its id's month);
- error-400.xml: arXiv's answer, with HTTP 400, to a malformed id: one "Error" entry;
- broken.xml: an answer cut off in the middle.

For id_list=a,b the server wraps the <entry> of each id it has a file for in empty.xml's feed and
sets opensearch:totalResults to how many it found, as arXiv does. Abstracts are paraphrased.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import MINI
from evollm.errors import NetworkError, NotFound, UsageError
from evollm.sources import arxiv, compare, drafts

FIXTURES = Path(__file__).parent / "fixtures" / "arxiv"


class LocalServer:
    """An HTTP/1.1 server on 127.0.0.1 in a thread, answering with `respond(method, path, query)`.

    `respond` returns (status, headers, body) or (status, headers, body, seconds to wait first).
    Every request is kept in `requests` as (method, path, query).
    """

    def __init__(self, respond):
        self.respond = respond
        self.requests: list[tuple[str, str, dict]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def answer(self):
                parts = urlsplit(self.path)
                query = parse_qs(parts.query, keep_blank_values=True)
                owner.requests.append((self.command, parts.path, query))
                status, headers, body, *delay = owner.respond(self.command, parts.path, query)
                if delay:
                    time.sleep(delay[0])
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = answer

            def log_message(self, *args):
                pass

        class QuietServer(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a client that gave up (a timeout test) is no error of the server's

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


ATOM = {"Content-Type": "application/atom+xml; charset=utf-8"}


def entry_of(arxiv_id: str) -> str | None:
    path = FIXTURES / f"{arxiv_id}.xml"
    if not path.exists():
        return None
    return re.search(r"  <entry>.*?</entry>\n", path.read_text(encoding="utf-8"), re.DOTALL).group(0)


def feed(ids: list[str]) -> bytes:
    """arXiv's answer for id_list=ids: the entries it has, in empty.xml's feed."""
    entries = [e for e in map(entry_of, ids) if e]
    text = (FIXTURES / "empty.xml").read_text(encoding="utf-8")
    text = text.replace("<opensearch:totalResults>0<", f"<opensearch:totalResults>{len(entries)}<")
    text = text.replace("2305.99999", ",".join(ids))
    return text.replace("</feed>", "".join(entries) + "</feed>").encode()


class FakeArxiv:
    """arXiv's query API; `failures` are served first, one per request (status, headers, body[, delay])."""

    def __init__(self):
        self.failures: list[tuple] = []
        self.server: LocalServer | None = None

    def __call__(self, method, path, query):
        if self.failures:
            return self.failures.pop(0)
        ids = [i for i in query.get("id_list", [""])[0].split(",") if i]
        return 200, ATOM, feed(ids)

    def id_lists(self) -> list[list[str]]:
        return [q["id_list"][0].split(",") for _, _, q in self.server.requests]


@pytest.fixture
def arxiv_api(monkeypatch):
    fake = FakeArxiv()
    with LocalServer(fake) as server:
        fake.server = server
        monkeypatch.setenv("EVOLLM_ARXIV_API", f"{server.url}/api/query")
        monkeypatch.setattr(arxiv, "MIN_INTERVAL", 0.0)  # the interval itself is proved with a fake clock
        yield fake


@pytest.fixture
def folder(tmp_path):
    """An empty data folder."""
    path = tmp_path / "kb"
    path.mkdir()
    return path


def files_in(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


# --- ids ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "2305.18290", "2305.18290v2", "arXiv:2305.18290", "arxiv:2305.18290v3", " 2305.18290 ",
    "https://arxiv.org/abs/2305.18290", "http://arxiv.org/abs/2305.18290v2", "https://arxiv.org/pdf/2305.18290",
    "https://arxiv.org/pdf/2305.18290v3.pdf", "arxiv.org/abs/2305.18290", "https://export.arxiv.org/abs/2305.18290",
    "https://www.arxiv.org/abs/2305.18290?context=cs",
])
def test_accepted_id_forms(text):
    assert arxiv.parse_arxiv_id(text) == "2305.18290"


@pytest.mark.parametrize("text", [
    "", "2305.1829", "2305.182901", "23a5.18290", "2313.18290", "2300.18290", "0703.1234", "1412.12345",
    "1501.1234", "hep-th/9901001", "https://example.org/abs/2305.18290", "https://arxiv.org/list/2305.18290",
    "2305.18290 2306.00001", "2305.18290v", "doi:2305.18290",
])
def test_refused_id_forms(text):
    with pytest.raises(UsageError, match="is not an arXiv id"):
        arxiv.parse_arxiv_id(text)


def test_old_four_digit_ids():
    assert arxiv.parse_arxiv_id("arXiv:1409.0473v7") == "1409.0473"


# --- add: the success path ----------------------------------------------------------------------


def test_add_writes_a_valid_draft(cli, arxiv_api, folder):
    result = cli("add", "--arxiv", "https://arxiv.org/abs/2305.18290v2", "--data", folder)
    assert result.exit_code == 0, result.output
    path = folder / "direct-preference-optimization.yaml"
    assert result.stdout.strip() == str(path)
    assert files_in(folder) == ["direct-preference-optimization.yaml"]
    assert arxiv_api.id_lists() == [["2305.18290"]]  # the bare id, in one request
    text = path.read_text(encoding="utf-8")
    assert 'arxiv: "2305.18290"' in text  # quoted: the schema refuses a number
    assert "name: Direct Preference Optimization\n" in text
    assert "title: 'Direct Preference Optimization: Your Language Model is Secretly a Reward Model'" in text
    assert "date: 2023-05-29\n" in text
    assert 'labs: ["(to be checked)"]' in text
    assert "kind: method\n" in text
    assert ("authors: [Rafael Rafailov, Archit Sharma, Eric Mitchell, Stefano Ermon, Christopher D. Manning, "
            "Chelsea Finn]") in text
    assert "  paper: https://arxiv.org/abs/2305.18290\n" in text
    assert "  - https://arxiv.org/abs/2305.18290\n" in text
    assert "status: draft\n" in text
    assert "(cs.LG)" in text  # the primary category, in the header comment
    assert "#   Steering a large unsupervised language model" in text  # the abstract, as a comment

    result = cli("validate", "--data", folder)
    assert result.exit_code == 0, result.output
    assert "warning:" in result.stderr and "draft" in result.stderr
    shown = json.loads(cli("show", "direct-preference-optimization", "--data", folder, "--json").stdout)
    assert shown["authors"][-1] == "Chelsea Finn" and shown["status"] == "draft"
    assert shown["problem"] == "" and shown["labs"] == ["(to be checked)"]


def test_add_into_the_users_folder_extends_the_shipped_entries(cli, arxiv_api, tmp_path):
    result = cli("add", "--arxiv", "arXiv:2401.00001", "--kind", "analysis")
    assert result.exit_code == 0, result.output
    path = tmp_path / "home" / "papers" / "tokens-at-midnight.yaml"  # EVOLLM_HOME is tmp/home (conftest)
    assert result.stdout.strip() == str(path) and path.exists()
    text = path.read_text(encoding="utf-8")
    # The first version is dated 2023-12-31, the id says 2024-01: the draft takes the id's month.
    assert "date: 2024-01\n" in text and "kind: analysis\n" in text
    result = cli("validate")
    assert result.exit_code == 0, result.output
    assert "tokens-at-midnight.yaml" in result.stderr and "warning:" in result.stderr
    assert cli("show", "tokens-at-midnight", "--json").exit_code == 0


def test_add_reads_the_classic_format_too(cli, arxiv_api, folder):
    result = cli("add", "--arxiv", "1706.03762", "--id", "transformer", "--kind", "architecture", "--data", folder)
    assert result.exit_code == 0, result.output
    text = (folder / "transformer.yaml").read_text(encoding="utf-8")
    assert "title: Attention Is All You Need\n" in text  # the wrapped title, joined
    assert "date: 2017-06-12\n" in text and "(cs.CL)" in text and "Lukasz Kaiser" in text
    assert cli("validate", "--data", folder).exit_code == 0


def test_long_author_lists_follow_the_convention():
    many = tuple(f"Author {i}" for i in range(40))
    assert drafts._author_list(many) == [*many[:drafts.AUTHORS_SHOWN], "et al."]
    assert drafts._author_list(many[:15]) == list(many[:15])


@pytest.mark.parametrize("title, name, slug", [
    ("BERT: Pre-training of Deep Bidirectional Transformers", "BERT", "bert"),
    ("Attention Is All You Need", "Attention Is All You Need", "attention-is-all-you-need"),
    ("GPT-4 Technical Report", "GPT-4 Technical Report", "gpt-4-technical-report"),
    ("Qwen2.5-Coder: Code Models", "Qwen2.5-Coder", "qwen2.5-coder"),
    ("Émile's Über-Model: a study", "Émile's Über-Model", "emile-s-uber-model"),
    ("Improving Language Understanding by Generative Pre-Training With A Very Long Title Indeed",
     "Improving Language Understanding by Generative Pre-Training With A Very Long Title Indeed",
     "improving-language-understanding-by-generative-pre-training"),
])
def test_names_and_ids_from_titles(title, name, slug):
    assert drafts.short_name(title) == name
    assert drafts.slugify(drafts.short_name(title)) == slug


def test_a_title_with_no_latin_letters_gets_an_id_from_its_arxiv_id():
    paper = arxiv.Paper("2305.18290", "注意力", (), "2023-05-29T00:00:00Z", "", "cs.CL", "")
    assert drafts.default_id(paper) == "arxiv-2305.18290"


def test_the_abstract_comment_cannot_break_the_yaml(folder):
    import yaml

    nasty = "A line\u2028break, a NEL\x85, a tab\t, a bell\x07 and: # hashes\n- a list?"
    paper = arxiv.Paper("2305.18290", "Title: with 'quotes' and \"more\"", ("O'Neil, Jr.",),
                        "2023-05-29T17:57:46Z", nasty, "cs.LG", "")
    text = drafts.draft_yaml(paper, "x", "method")
    data = yaml.safe_load(text)
    assert data["title"] == paper.title and data["authors"] == ["O'Neil, Jr."]
    assert "summary" not in data and "abstract" not in data
    drafts._validate_text(text, "x.yaml")


# --- add: refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (["--arxiv", "2305.1829"], "'2305.1829' is not an arXiv id"),
    (["--arxiv", "hep-th/9901001"], "is not an arXiv id"),
    (["--arxiv", "https://example.org/abs/2305.18290"], "is not an arXiv id"),
    ([], "give the paper with --arxiv ID"),
    (["--arxiv", "2305.18290", "--id", "Not_A_Slug"], "--id 'Not_A_Slug' is not an id"),
    (["--arxiv", "2305.18290", "--kind", "toy"], "unknown kind 'toy'"),
])
def test_usage_errors_come_before_any_request(cli, arxiv_api, folder, args, message):
    result = cli("add", *args, "--data", folder)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and result.stderr.startswith("Error: ")
    assert arxiv_api.server.requests == []
    assert files_in(folder) == []


def test_a_bad_endpoint_is_a_usage_error(cli, monkeypatch, folder):
    monkeypatch.setenv("EVOLLM_ARXIV_API", "export.arxiv.org/api/query")
    result = cli("add", "--arxiv", "2305.18290", "--data", folder)
    assert result.exit_code == 2 and "EVOLLM_ARXIV_API must be an http(s) URL" in result.stderr


@pytest.fixture
def mini(tmp_path):
    copy = tmp_path / "mini"
    shutil.copytree(MINI, copy)
    return copy


def test_an_existing_arxiv_id_is_refused_without_a_request(cli, arxiv_api, mini):
    before = files_in(mini)
    result = cli("add", "--arxiv", "1706.03762", "--data", mini)
    assert result.exit_code == 1, result.output
    assert "arXiv 1706.03762 is already entry 'attn'" in result.stderr and "--force" in result.stderr
    assert arxiv_api.server.requests == [] and files_in(mini) == before
    result = cli("add", "--arxiv", "1706.03762", "--data", mini, "--force")
    assert result.exit_code == 0, result.output
    assert (mini / "attention-is-all-you-need.yaml").exists()
    assert cli("validate", "--data", mini).exit_code == 0


def test_an_existing_id_is_refused_unless_forced(cli, arxiv_api, mini):
    original = (mini / "enc.yaml").read_text()
    result = cli("add", "--arxiv", "2305.18290", "--id", "enc", "--data", mini)
    assert result.exit_code == 1 and "entry 'enc' exists" in result.stderr
    assert arxiv_api.server.requests == []
    assert (mini / "enc.yaml").read_text() == original
    # The default id (from the title) is checked after the answer: adding the same paper twice.
    assert cli("add", "--arxiv", "2305.18290", "--data", mini).exit_code == 0
    again = cli("add", "--arxiv", "2305.18290", "--id", "direct-preference-optimization", "--data", mini)
    assert again.exit_code == 1 and "is already entry 'direct-preference-optimization'" in again.stderr
    forced = cli("add", "--arxiv", "2305.18290", "--force", "--data", mini)
    assert forced.exit_code == 0, forced.output


def test_an_id_that_would_clash_with_an_alias_is_refused_even_forced(cli, arxiv_api, mini):
    result = cli("add", "--arxiv", "2305.18290", "--id", "attention-everywhere", "--force", "--data", mini)
    assert result.exit_code == 1, result.output
    assert "too close to entry 'attn'" in result.stderr
    assert not (mini / "attention-everywhere.yaml").exists()


def test_the_shipped_dpo_entry_blocks_a_second_dpo(cli, arxiv_api):
    result = cli("add", "--arxiv", "2305.18290")
    assert result.exit_code == 1 and "is already entry 'dpo'" in result.stderr
    forced = cli("add", "--arxiv", "2305.18290", "--force")  # its title's id is dpo's alias
    assert forced.exit_code == 1 and "too close to entry 'dpo'" in forced.stderr


# --- failures: one line, the right code, nothing written -----------------------------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_one_clean_line(result, code: int, text: str) -> None:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert text in lines[0], lines[0]
    assert "Traceback" not in result.output and result.stdout == ""


def test_network_down(cli, monkeypatch, folder):
    monkeypatch.setattr(arxiv, "MIN_INTERVAL", 0.0)
    monkeypatch.setenv("EVOLLM_ARXIV_API", f"http://127.0.0.1:{closed_port()}/api/query")
    result = cli("add", "--arxiv", "2305.18290", "--data", folder)
    assert_one_clean_line(result, 4, "cannot reach arXiv (127.0.0.1:")
    assert "is the network down?" in result.stderr
    assert files_in(folder) == []


def slow(seconds):
    return (200, ATOM, feed(["2305.18290"]), seconds)


@pytest.mark.parametrize("failures, code, message, tries", [
    ([slow(1.0), slow(1.0)], 4, "did not answer within 0.2 s", 2),
    ([(429, {"Retry-After": "60"}, b"Rate exceeded.")], 4, "asks us to slow down (HTTP 429)", 1),
    ([(503, {}, b"")] * 2, 4, "is failing (HTTP 503); try again later", 2),
    ([(500, {}, b"<html>oops</html>")] * 2, 4, "is failing (HTTP 500)", 2),
    ([(200, ATOM, (FIXTURES / "broken.xml").read_bytes())], 4, "is broken: not well-formed XML", 1),
    ([(200, {"Content-Type": "text/html"}, b"<html><body>Sign in to the Wi-Fi</body></html>")], 4,
     "is broken: expected an Atom <feed>, got <html>", 1),
    ([(200, ATOM, b"")], 4, "is broken: the answer is empty", 1),
    ([(200, ATOM, feed(["2305.18290"]).replace(b"<published>2023-05-29T17:57:46Z", b"<published>yesterday"))], 4,
     "is broken: an entry's <published> is not a time: 'yesterday'", 1),
    ([(200, ATOM, re.sub(rb"<title>Direct.*?</title>", b"", feed(["2305.18290"])))], 4,
     "is broken: an entry has no <title>", 1),
    ([(400, ATOM, (FIXTURES / "error-400.xml").read_bytes())], 4,
     "refused the request (HTTP 400): incorrect id format for 2305.1829", 1),
])
def test_failures_of_arxiv(cli, arxiv_api, monkeypatch, folder, failures, code, message, tries):
    monkeypatch.setattr(arxiv, "TIMEOUT", 0.2)
    arxiv_api.failures = list(failures)
    result = cli("add", "--arxiv", "2305.18290", "--data", folder)
    assert_one_clean_line(result, code, message)
    assert len(arxiv_api.server.requests) == tries
    assert files_in(folder) == []


def test_an_id_arxiv_does_not_have(cli, arxiv_api, folder):
    result = cli("add", "--arxiv", "2305.99999", "--data", folder)
    assert_one_clean_line(result, 1, "arXiv has no paper 2305.99999")
    assert files_in(folder) == []


def test_one_passing_failure_is_retried(cli, arxiv_api, folder):
    arxiv_api.failures = [(503, {}, b"")]
    result = cli("add", "--arxiv", "2305.18290", "--data", folder)
    assert result.exit_code == 0, result.output
    assert len(arxiv_api.server.requests) == 2


def test_an_interrupted_add_leaves_nothing(arxiv_api, folder, monkeypatch):
    import evollm.fileio

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(evollm.fileio.os, "link", interrupted)
    with pytest.raises(KeyboardInterrupt):
        drafts.add_from_arxiv("2305.18290", data=folder)
    assert files_in(folder) == []  # not even the temporary file


def test_a_failed_write_is_one_line_and_leaves_nothing(cli, arxiv_api, folder, monkeypatch):
    import evollm.fileio

    def full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(evollm.fileio.os, "link", full)
    result = cli("add", "--arxiv", "2305.18290", "--data", folder)
    assert_one_clean_line(result, 5, "No space left on device")  # ExitCode.CANNOT_WRITE (issue 20)
    assert files_in(folder) == []


# --- pacing, batching, caching ------------------------------------------------------------------


class FakeClock:
    def __init__(self):
        self.now, self.sleeps = 1000.0, []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def test_the_default_interval_is_arxivs_three_seconds():
    assert arxiv.MIN_INTERVAL == 3.0
    assert arxiv.Pacer().interval == 3.0
    assert arxiv.BATCH == 100


def test_batches_of_100_ids_one_interval_apart(arxiv_api):
    clock = FakeClock()
    pacer = arxiv.Pacer(3.0, clock=clock.time, sleep=clock.sleep)
    ids = [f"2301.{n:05d}" for n in range(150)] + ["2305.18290"]
    answers = arxiv.fetch_papers(ids, pacer=pacer)
    assert [len(batch) for batch in arxiv_api.id_lists()] == [100, 51]
    # Time passes only in sleep(): the second request went out exactly one interval after the first.
    assert clock.sleeps == [3.0]
    assert answers.requests == 2
    assert answers.papers["2305.18290"].title.startswith("Direct Preference Optimization")
    assert answers.papers["2301.00000"] is None


def test_the_interval_holds_across_runs(tmp_path):
    clock = FakeClock()
    state = tmp_path / "last-request"
    arxiv.Pacer(3.0, clock=clock.time, sleep=clock.sleep, state=state).wait()
    clock.now += 1.0
    arxiv.Pacer(3.0, clock=clock.time, sleep=clock.sleep, state=state).wait()  # a second command, 1 s later
    assert clock.sleeps == [2.0]
    clock.now -= 3600  # a clock set back never means waiting more than one interval
    arxiv.Pacer(3.0, clock=clock.time, sleep=clock.sleep, state=state).wait()
    assert clock.sleeps == [2.0, 3.0]


def test_answers_are_cached_with_their_fetch_time(arxiv_api, tmp_path):
    first = arxiv.fetch_papers(["2305.18290", "2305.99999"])
    assert first.requests == 1 and first.cached == 0
    second = arxiv.fetch_papers(["2305.99999", "2305.18290"])
    assert second.requests == 0 and second.cached == 2 and len(arxiv_api.server.requests) == 1
    assert second.papers == first.papers
    stored = json.loads((tmp_path / "cache" / "evollm" / "arxiv.json").read_text())
    fetched = stored["answers"]["2305.18290"]["fetched"]
    assert dt.datetime.now(dt.timezone.utc) - dt.datetime.fromisoformat(fetched.replace("Z", "+00:00")) \
        < dt.timedelta(minutes=1)
    assert stored["answers"]["2305.99999"]["paper"] is None  # "arXiv has none" is an answer too
    assert arxiv.fetch_papers(["2305.18290"], refresh=True).requests == 1
    # An old answer is asked again.
    stored["answers"]["2305.18290"]["fetched"] = "2000-01-01T00:00:00Z"
    (tmp_path / "cache" / "evollm" / "arxiv.json").write_text(json.dumps(stored))
    assert arxiv.fetch_papers(["2305.18290"]).requests == 1


def test_a_corrupt_cache_is_ignored(arxiv_api, tmp_path):
    path = tmp_path / "cache" / "evollm" / "arxiv.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"version": 1, "answers": {"2305.18290": {"fetched": 3, "paper": [1]}}')
    assert arxiv.fetch_papers(["2305.18290"]).papers["2305.18290"].authors[0] == "Rafael Rafailov"


def test_the_packages_own_retries_and_delays_are_off(arxiv_api):
    start = time.monotonic()
    arxiv_api.failures = [(503, {}, b"")] * 2
    with pytest.raises(NetworkError):
        arxiv.fetch_papers(["2305.18290"], use_cache=False)
    assert len(arxiv_api.server.requests) == 2 and time.monotonic() - start < 2


def test_fetch_paper_not_found(arxiv_api):
    with pytest.raises(NotFound, match="arXiv has no paper 2305.99999"):
        arxiv.fetch_paper("2305.99999")


# --- check arxiv --------------------------------------------------------------------------------

KB = {
    # Right in every way; arXiv writes "Lukasz", we write "Łukasz".
    "transformer": """\
id: transformer
name: Transformer
title: Attention Is All You Need
date: 2017-06
labs: [Google Brain]
kind: architecture
authors: [Ashish Vaswani, Noam Shazeer, Niki Parmar, Jakob Uszkoreit, Llion Jones, Aidan N. Gomez, Łukasz Kaiser, Illia Polosukhin]
arxiv: "1706.03762"
problem: Recurrence is slow.
solution: Attention only.
""",
    # A wrong title (a folded block), a misspelt author, one missing; comments to keep.
    "dpo": """\
# DPO: checked by hand in 2024.
id: dpo
name: DPO
title: >-
  Direct Preference Optimisation: Your Language
  Model is Secretly a Reward Model
date: 2023-05
arxiv: "2305.18290"  # the NeurIPS paper
labs: [Stanford University]
kind: method
authors:
  - Rafael Rafailov
  - Archit Sharma
  - Eric Mitchel
  - Stefano Ermon
  - Christopher D. Manning
# Chelsea Finn is missing.
problem: RLHF is complex.
solution: A classification loss.
""",
    # The first version is dated 2023-12, the id 2401: the date should say so (with a date_note).
    "midnight": """\
id: midnight
name: Midnight
title: "Tokens at Midnight: A Test Paper"
date: 2024-01
labs: [Lab]
kind: analysis
authors: [Ada Example, et al.]
arxiv: "2401.00001"
problem: P.
solution: S.
""",
    # An arXiv id arXiv does not have.
    "ghost": """\
id: ghost
name: Ghost
title: A Paper That Is Not There
date: 2023-05
labs: [Lab]
kind: method
arxiv: "2305.99999"
problem: P.
solution: S.
""",
    "no-arxiv": """\
id: no-arxiv
name: Blog Post
title: A Release Without a Paper
date: 2023-05-01
labs: [Lab]
kind: model
problem: P.
solution: S.
""",
}


@pytest.fixture
def kb(tmp_path):
    path = tmp_path / "check-kb"
    path.mkdir()
    for entry_id, text in KB.items():
        (path / f"{entry_id}.yaml").write_text(text, encoding="utf-8")
    return path


def test_check_reports_every_mismatch(cli, arxiv_api, kb):
    result = cli("check", "arxiv", "--data", kb)
    assert result.exit_code == 1, result.output
    assert sorted(arxiv_api.id_lists()[0]) == ["1706.03762", "2305.18290", "2305.99999", "2401.00001"]
    assert len(arxiv_api.server.requests) == 1
    words = result.stdout.split()  # the table wraps its cells: compare words
    assert "transformer" not in words  # Łukasz == Lukasz
    assert words[:3] == ["Differences", "from", "arXiv"]
    assert "Optimisation:" in words and "Mitchel," in words and "Chelsea" in words
    assert "midnight" in words and "2023-12-31" in words and "date_note" in words
    assert "ghost" in words and "(no such paper)" in " ".join(words)
    assert result.stderr.startswith("4 entries checked against arXiv (1 request): 4 mismatches in 3 entries.\n")
    assert "--fix" in result.stderr


def test_check_json(cli, arxiv_api, kb):
    result = cli("check", "arxiv", "--data", kb, "--json")
    assert result.exit_code == 1
    rows = {(r["id"], r["field"]): r for r in json.loads(result.stdout)}
    assert set(rows) == {("dpo", "title"), ("dpo", "authors"), ("midnight", "date"), ("ghost", "arxiv")}
    assert rows[("dpo", "title")]["arxiv_value"] == \
        "Direct Preference Optimization: Your Language Model is Secretly a Reward Model"
    assert rows[("dpo", "title")]["fixable"] and not rows[("midnight", "date")]["fixable"]
    assert not any(r["fixed"] for r in rows.values())


def test_a_second_run_sends_no_request(cli, arxiv_api, kb):
    assert cli("check", "arxiv", "--data", kb).exit_code == 1
    again = cli("check", "arxiv", "--data", kb)
    assert again.exit_code == 1 and again.stdout
    assert len(arxiv_api.server.requests) == 1
    assert "(0 requests, 4 answers from the cache): 4 mismatches" in again.stderr
    assert "The oldest cached answer was fetched 20" in again.stderr and "--refresh" in again.stderr
    refreshed = cli("check", "arxiv", "--data", kb, "--refresh")
    assert refreshed.exit_code == 1 and len(arxiv_api.server.requests) == 2


def test_check_some_entries(cli, arxiv_api, kb):
    result = cli("check", "arxiv", "transformer", "--data", kb)
    assert result.exit_code == 0, result.output
    assert "1 entry checked against arXiv (1 request): no mismatch." in result.stderr
    assert cli("check", "arxiv", "arXiv:2305.18290", "--data", kb, "--json").exit_code == 1
    assert arxiv_api.id_lists() == [["1706.03762"], ["2305.18290"]]
    missing = cli("check", "arxiv", "nope", "--data", kb)
    assert missing.exit_code == 1 and "no entry 'nope'" in missing.stderr
    none = cli("check", "arxiv", "no-arxiv", "--data", kb)
    assert none.exit_code == 1 and "entry 'no-arxiv' has no arXiv id" in none.stderr


def test_fix_rewrites_title_and_authors_and_shows_the_diff(cli, arxiv_api, kb):
    result = cli("check", "arxiv", "--data", kb, "--fix")
    assert result.exit_code == 1, result.output  # the date and the missing paper remain
    dpo = (kb / "dpo.yaml").read_text(encoding="utf-8")
    assert "-  Direct Preference Optimisation: Your Language" in result.stdout
    assert "+title: 'Direct Preference Optimization: Your Language Model is Secretly a Reward Model'" in result.stdout
    assert "+authors: [Rafael Rafailov, Archit Sharma, Eric Mitchell" in result.stdout
    assert dpo.startswith("# DPO: checked by hand in 2024.\n")  # comments and layout kept
    assert 'arxiv: "2305.18290"  # the NeurIPS paper\n' in dpo
    assert "# Chelsea Finn is missing.\nproblem: RLHF is complex.\n" in dpo
    assert "Fixed 2 fields in 1 file." in result.stderr
    assert "2 mismatches in 2 entries" in result.stderr
    assert (kb / "midnight.yaml").read_text(encoding="utf-8") == KB["midnight"]
    assert cli("validate", "--data", kb).exit_code == 0
    assert cli("check", "arxiv", "dpo", "--data", kb).exit_code == 0
    assert len(arxiv_api.server.requests) == 1  # the second check came from the cache


def test_fix_keeps_et_al(tmp_path):
    paper = arxiv.Paper("2401.00001", "T", ("A", "B", "C", "D"), "2024-01-02T00:00:00Z", "", "cs.CL", "")
    assert compare.fixed_authors(["A", "X", "et al."], paper.authors) == ["A", "B", "et al."]
    assert compare.fixed_authors(["A", "et al."], ("A",)) == ["A"]
    assert compare.fixed_authors([], paper.authors) == ["A", "B", "C", "D"]


@pytest.mark.parametrize("before, after", [
    ("id: x\ntitle: Old\nauthors: [A, B]\nkind: method\n", "id: x\ntitle: Old\nauthors: [A, C]\nkind: method\n"),
    ("id: x\ntitle: Old\nauthors:\n  - A\n  - B\n# note\nkind: method\n",
     "id: x\ntitle: Old\nauthors: [A, C]\n# note\nkind: method\n"),
    ("id: x\ntitle: Old\nkind: method\n", "id: x\ntitle: Old\nauthors: [A, C]\nkind: method\n"),
    ("id: x\ntitle: Old\nauthors: []  # none yet\n", "id: x\ntitle: Old\nauthors: [A, C]  # none yet\n"),
])
def test_set_field_touches_one_field(before, after):
    assert compare.set_field(before, "authors", ["A", "C"]) == after


def test_set_field_title_forms():
    assert compare.set_field("title: >-\n  Old\n  text\nid: x\n", "title", "New: text") == "title: 'New: text'\nid: x\n"
    assert compare.set_field('title: "Old"   # why\nid: x\n', "title", "New") == "title: New   # why\nid: x\n"


def test_check_failures_are_one_line(cli, monkeypatch, kb):
    monkeypatch.setattr(arxiv, "MIN_INTERVAL", 0.0)
    monkeypatch.setenv("EVOLLM_ARXIV_API", f"http://127.0.0.1:{closed_port()}/api/query")
    before = {p.name: p.read_text() for p in kb.iterdir()}
    result = cli("check", "arxiv", "--data", kb, "--fix")
    assert_one_clean_line(result, 4, "cannot reach arXiv")
    assert {p.name: p.read_text() for p in kb.iterdir()} == before


def test_no_entry_with_an_arxiv_id(cli, arxiv_api, folder):
    result = cli("check", "arxiv", "--data", folder)
    assert result.exit_code == 0 and "No entry has an arXiv id." in result.stderr
    assert arxiv_api.server.requests == []


# --- laziness -----------------------------------------------------------------------------------

PROBE = """
import json, sys
from typer.testing import CliRunner
from evollm.cli import app
result = CliRunner().invoke(app, sys.argv[1:])
heavy = sorted({m.split('.')[0] for m in sys.modules} & {"arxiv", "httpx", "requests", "lxml", "numpy"})
print(json.dumps({"exit": result.exit_code, "heavy": heavy, "sources": "evollm.cli.sources" in sys.modules}))
"""


@pytest.mark.parametrize("args", [["--help"], ["add", "--help"], ["check", "--help"], ["check", "arxiv", "--help"],
                                  ["check", "links", "--help"], ["validate", "--data", str(MINI)]])
def test_the_network_libraries_load_only_when_used(args):
    out = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report == {"exit": 0, "heavy": [], "sources": True}
