"""The on-disk cache never serves stale data, and a broken cache is rebuilt silently."""

import json
import multiprocessing
import os
import shutil

import pytest

from evollm import cache
from evollm.kb import load_knowledge_base

from conftest import MINI


@pytest.fixture
def kb_dir(tmp_path, monkeypatch):
    folder = tmp_path / "kb"
    shutil.copytree(MINI, folder)
    monkeypatch.setattr(cache, "RACY_SECONDS", 0.0)  # ctime cannot be aged; see test_racy_files
    return folder


def cache_files():
    return sorted(cache.cache_dir().glob("kb-*.json"))


def split_cache(data: bytes) -> tuple[dict, dict, int]:
    """(first line, header, where the body starts) of a cache file's bytes."""
    first_end = data.index(b"\n") + 1
    first = json.loads(data[:first_end])
    return first, json.loads(data[first_end:first_end + first["header"]]), first_end + first["header"]


def test_second_load_is_served_from_the_cache_and_equals_a_fresh_parse(kb_dir):
    fresh = load_knowledge_base(kb_dir)
    assert len(cache_files()) == 1
    cached = load_knowledge_base(kb_dir)
    assert type(next(iter(cached))).__name__ == "Record"
    assert list(cached.entries) == list(fresh.entries)
    for entry_id, entry in fresh.entries.items():
        assert cached.entries[entry_id].model_dump() == entry.model_dump(mode="json")
        assert cached.entries[entry_id].year == entry.year
        assert [(p.id, p.relation, p.note) for p in cached.entries[entry_id].lineage] == [
            (p.id, p.relation, p.note) for p in entry.lineage]
    assert {i: str(p) for i, p in cached.paths.items()} == {i: str(p) for i, p in fresh.paths.items()}
    assert [c for c, _ in cached.children("attn")] == [c for c, _ in fresh.children("attn")]
    assert cached.resolve("ENC2").id == "enc-2"


def test_an_edited_file_shows_at_once(kb_dir, cli):
    assert "Lab Five" in cli("show", "loner", "--data", kb_dir).stdout
    text = (kb_dir / "loner.yaml").read_text().replace("Lab Five", "Lab Nine")
    (kb_dir / "loner.yaml").write_text(text)  # same size: only the mtime tells
    assert "Lab Nine" in cli("show", "loner", "--data", kb_dir).stdout


def test_same_size_same_second_edit_is_seen(kb_dir):
    load_knowledge_base(kb_dir)
    path = kb_dir / "loner.yaml"
    before = path.stat()
    path.write_text(path.read_text().replace("Lab Five", "Lab Nine"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # the old mtime restored: ctime still moves
    assert load_knowledge_base(kb_dir).entries["loner"].labs == ["Lab Nine"]


def test_a_deleted_file_disappears_and_an_added_one_appears(kb_dir, cli):
    assert cli("show", "loner", "--data", kb_dir).exit_code == 0
    (kb_dir / "loner.yaml").unlink()
    assert cli("show", "loner", "--data", kb_dir).exit_code == 1
    (kb_dir / "solo.yaml").write_text((MINI / "loner.yaml").read_text().replace("loner", "solo"))
    assert cli("show", "solo", "--data", kb_dir).exit_code == 0


def test_a_renamed_file_is_noticed(kb_dir, cli):
    load_knowledge_base(kb_dir)
    (kb_dir / "loner.yaml").rename(kb_dir / "other.yaml")
    result = cli("validate", "--data", kb_dir)
    assert result.exit_code == 3 and "must equal the file name's stem 'other'" in result.stderr


@pytest.mark.parametrize("garbage", [b"", b"{not json", b'{"key": "x"}\n', b"\x00\xff" * 100, b"[1, 2]\n"])
def test_a_corrupt_cache_is_rebuilt_silently(kb_dir, cli, garbage):
    load_knowledge_base(kb_dir)
    (target,) = cache_files()
    target.write_bytes(garbage)
    result = cli("timeline", "--json", "--data", kb_dir)
    assert result.exit_code == 0 and result.stderr == ""
    assert len(json.loads(result.stdout)) == 8
    assert json.loads(target.read_bytes().split(b"\n")[0])["key"]  # rewritten


def test_a_cache_with_a_right_key_but_broken_body_is_rebuilt(kb_dir):
    load_knowledge_base(kb_dir)
    (target,) = cache_files()
    first, header, _ = split_cache(target.read_bytes())
    header["index"] = "nonsense"
    header_line = json.dumps(header) + "\n"
    target.write_text(json.dumps({**first, "header": len(header_line)}) + "\n" + header_line)
    assert len(load_knowledge_base(kb_dir)) == 8


def test_an_unwritable_cache_folder_is_not_an_error(kb_dir, monkeypatch, tmp_path):
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert len(load_knowledge_base(kb_dir)) == 8


def test_version_or_schema_change_invalidates(kb_dir, monkeypatch):
    files = [(str(p), p.stat()) for p in sorted(kb_dir.glob("*.yaml"))]
    key = cache.key_of(files)[0]
    monkeypatch.setattr(cache, "__version__", "9.9.9")
    assert cache.key_of(files)[0] != key


def test_racy_files_are_not_cached_until_they_age(kb_dir, monkeypatch):
    monkeypatch.setattr(cache, "RACY_SECONDS", 60.0)
    load_knowledge_base(kb_dir)
    assert cache_files() == []  # just written: an edit in the same clock tick could go unseen
    monkeypatch.setattr(cache, "RACY_SECONDS", 0.0)
    load_knowledge_base(kb_dir)
    assert len(cache_files()) == 1


def test_no_cache_bypasses(kb_dir, cli, monkeypatch):
    assert cli("--no-cache", "timeline", "--data", kb_dir).exit_code == 0
    assert cache_files() == []
    monkeypatch.setenv("EVOLLM_NO_CACHE", "1")
    assert cli("timeline", "--data", kb_dir).exit_code == 0
    assert cache_files() == []


def _load_many(folder, cache_home, rounds):
    os.environ["XDG_CACHE_HOME"] = cache_home
    from pathlib import Path

    for _ in range(rounds):
        (Path(cache_home) / "evollm").mkdir(parents=True, exist_ok=True)
        for f in (Path(cache_home) / "evollm").glob("kb-*.json"):
            f.unlink(missing_ok=True)  # force both processes to write
        assert len(load_knowledge_base(Path(folder))) == 8


def test_two_processes_writing_at_once_leave_a_valid_cache(kb_dir):
    home = os.environ["XDG_CACHE_HOME"]
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_load_many, args=(str(kb_dir), home, 15)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    load_knowledge_base(kb_dir)
    for target in cache_files():
        assert len(split_cache(target.read_bytes())[1]["index"][0]) == 8  # the id column: every entry
    assert not list(cache.cache_dir().glob(".*tmp")), "no temporary files left behind"


@pytest.mark.parametrize("query", ["encoder", "enc", "enc two", "decoder text", "the", "zebra", "a", "attention everywhere"])
def test_indexed_search_equals_scanning(kb_dir, query):
    from evollm import query as q

    fresh = load_knowledge_base(kb_dir)
    cached = load_knowledge_base(kb_dir)
    assert fresh.token_index() is None and cached.token_index() is not None
    naive = [(s, e.id) for s, e in q.search(fresh, query, 50)]
    indexed = [(s, e.id) for s, e in q.search(cached, query, 50)]
    assert indexed == naive


def test_indexed_search_equals_scanning_on_the_shipped_knowledge_base(monkeypatch):
    from evollm import query as q

    monkeypatch.setattr(cache, "RACY_SECONDS", 0.0)
    fresh = load_knowledge_base(use_cache=False)
    load_knowledge_base()
    cached = load_knowledge_base()
    assert cached.token_index() is not None
    for query in ("attention", "mixture of experts", "rlhf", "GPT", "scal", "llama 2", "reward model preference"):
        assert [(s, e.id) for s, e in q.search(cached, query, 30)] == [(s, e.id) for s, e in q.search(fresh, query, 30)]


def test_a_truncated_cache_is_rebuilt(kb_dir):
    load_knowledge_base(kb_dir)
    (target,) = cache_files()
    target.write_bytes(target.read_bytes()[:-10])
    kb = load_knowledge_base(kb_dir)
    assert kb.entries["hybrid"].solution.startswith("Combine")


def test_cached_json_drops_none_at_every_depth_like_a_fresh_parse(kb_dir, cli):
    fresh = cli("show", "hybrid", "--json", "--data", kb_dir).stdout  # parsed, then cached
    cached = cli("show", "hybrid", "--json", "--data", kb_dir).stdout  # read back from the cache
    assert cache_files()
    assert json.loads(fresh) == json.loads(cached)
    enc = json.loads(cli("show", "enc", "--json", "--data", kb_dir).stdout)
    assert "active" not in enc["params"][0]


def _damage_stored_line(offset_of) -> None:
    """Overwrite one line of the cache body with valid JSON of the wrong shape, keeping the file's
    size (so the cache as a whole still looks intact). `offset_of(header, fetch)` picks the line."""
    (target,) = cache_files()
    data = target.read_bytes()
    _, header, header_end = split_cache(data)

    def fetch(offset):
        start = header_end + offset
        return json.loads(data[start:data.index(b"\n", start)].partition(b" ")[2])  # after the line's digest

    start = header_end + offset_of(header, fetch)
    end = data.index(b"\n", start)
    target.write_bytes(data[:start] + b'"damaged"'.ljust(end - start) + data[end:])


def test_a_damaged_search_row_falls_back_to_scanning(kb_dir, cli):
    load_knowledge_base(kb_dir)

    def encoder_row(header, fetch):
        tokens, offsets = fetch(header["parts"]["tokens"])
        return offsets[tokens.index("encoder")]

    _damage_stored_line(encoder_row)
    result = cli("search", "encoder", "--json", "--data", kb_dir)
    assert result.exit_code == 0 and {d["id"] for d in json.loads(result.stdout)} == {"enc", "enc-2", "hybrid"}


@pytest.mark.parametrize("part", ["names", "children", "adopters", "tokens"])
def test_damaged_stored_indexes_are_rebuilt_from_the_entries(kb_dir, part):
    from evollm import query as q

    fresh = load_knowledge_base(kb_dir)
    load_knowledge_base(kb_dir)
    _damage_stored_line(lambda header, fetch: header["parts"][part])
    cached = load_knowledge_base(kb_dir)
    assert type(next(iter(cached))).__name__ == "Record"
    assert cached.name_index() == fresh.name_index()
    assert cached.children_index() == fresh.children_index()
    assert cached.adopters_index() == fresh.adopters_index()
    # "e" is a prefix of many tokens, so scoring sums the per-field counts of several rows
    assert [(s, e.id) for s, e in q.search(cached, "e", 50)] == [(s, e.id) for s, e in q.search(fresh, "e", 50)]


@pytest.mark.parametrize("folder", ["mini", "shipped"])
def test_stored_indexes_equal_those_built_from_the_entries(kb_dir, folder, monkeypatch):
    from evollm.kb import _package_data

    data = kb_dir if folder == "mini" else _package_data()
    fresh = load_knowledge_base(data, use_cache=False)
    load_knowledge_base(data)
    cached = load_knowledge_base(data)
    assert cached._stored is not None
    assert cached.children_index() == fresh.children_index()
    assert cached.adopters_index() == fresh.adopters_index()
    assert cached.name_index() == fresh.name_index()


def test_search_finds_authors_and_arxiv_ids_with_or_without_the_cache(kb_dir):
    """Authors and arXiv ids are searched too (the browse search box relies on it), and the
    cache's token index scores them exactly as scanning the text does."""
    from evollm import query as q

    text = (kb_dir / "enc.yaml").read_text(encoding="utf-8")
    (kb_dir / "enc.yaml").write_text(text + "authors: [Ada Lovelace, Alan Turing]\n", encoding="utf-8")
    fresh = load_knowledge_base(kb_dir)
    cached = load_knowledge_base(kb_dir)
    assert cached.token_index() is not None
    for words, first in (("lovelace", "enc"), ("turing ada", "enc"), ("1706.03762", "attn"), ("1706", "attn")):
        naive = [(s, e.id) for s, e in q.search(fresh, words, 50)]
        assert naive and naive[0][1] == first, (words, naive)
        assert [(s, e.id) for s, e in q.search(cached, words, 50)] == naive
    assert q.search(fresh, "lovelace")[0][0] == 3.0  # an author weighs less than a title word (4)
