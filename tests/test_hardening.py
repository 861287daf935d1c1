"""Hostile knowledge bases are refused with exit 3, naming the file (and line), quickly, with no
traceback, nothing executed and nothing written."""

import os
import time

import pytest

from conftest import MINI

GOOD = (MINI / "loner.yaml").read_text()


def entry(**fields) -> str:
    base = {"id": "x", "name": "X", "title": "T", "date": "2019-02", "labs": "[L]", "kind": "model",
            "problem": "p", "solution": "s"}
    base.update(fields)
    return "".join(f"{k}: {v}\n" for k, v in base.items() if v is not None)


CASES = {
    "yaml syntax": ("x.yaml", "id: x\nname: [unclosed\n", "x.yaml:3: YAML"),
    "top-level list": ("x.yaml", "- id: x\n- name: X\n", "x.yaml:1: expected a mapping of fields, got a list"),
    "top-level scalar": ("x.yaml", "just words\n", "x.yaml:1: expected a mapping of fields, got a str"),
    "empty file": ("x.yaml", "", "x.yaml: empty file"),
    "comments only": ("x.yaml", "# nothing\n", "x.yaml: empty file"),
    "not utf-8": ("x.yaml", b"id: x\nname: \xff\xfe\n", "x.yaml: not UTF-8 text"),
    "unknown field": ("x.yaml", entry(colour="blue"), "x.yaml:9: colour: unknown field"),
    "wrong type": ("x.yaml", entry(labs="{a: 1}"), "x.yaml:5: labs: Input should be a valid list"),
    "month 13": ("x.yaml", entry(date="2019-13"), "x.yaml:4: date: month 13 is not a month"),
    "future date": ("x.yaml", entry(date="2999-01"), "x.yaml:4: date: 2999-01 is in the future"),
    "id not a slug": ("x.yaml", entry(id="../../etc/passwd"), "x.yaml:1: id: String should match pattern"),
    "id not the stem": ("y.yaml", entry(), "y.yaml:1: id: id 'x' must equal the file name's stem 'y'"),
    "javascript link": ("x.yaml", entry(links="{paper: 'javascript:alert(1)'}"), "x.yaml:9: links.paper"),
    "file link": ("x.yaml", entry(sources="['file:///etc/passwd']"), "x.yaml:9: sources[0]"),
    "demo names code": ("x.yaml", entry(demo="os.system"), "x.yaml:9: demo: no registered demo 'os.system'"),
    "python tag": ("x.yaml", entry(name="!!python/object/apply:os.system ['touch PWNED']"),
                   "x.yaml:2: YAML: could not determine a constructor for the tag"),
    "duplicate key": ("x.yaml", entry() + "name: Again\n", "x.yaml:9: field 'name' appears twice (the first at line 2)"),
    "arxiv as number": ("x.yaml", entry(arxiv="1902.0001"), "x.yaml:9: arxiv: write the arXiv id in quotes"),
    "date vs arxiv": ("x.yaml", entry(arxiv='"1810.04805"'), "x.yaml:4: date: 2019-02 differs from the arXiv id's month"),
    "parent loop": ("x.yaml", entry(lineage="[{id: x, relation: extends}]"), "x.yaml:9: lineage[0].id: an entry cannot be its own parent"),
    "dangling uses": ("x.yaml", entry(uses="[nowhere]"), "x.yaml:9: uses[0]: no entry 'nowhere'"),
    "oversized": ("x.yaml", entry(problem="x" * 300_000), "x.yaml: file is"),
    "alias bomb": ("x.yaml", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 12)), "x.yaml: expands to more than"),
    "deep nesting": ("x.yaml", "id: " + "[" * 20000 + "]" * 20000 + "\n", "x.yaml:1: YAML"),
    "active above total": ("x.yaml", entry(params="[{label: a, total: 1B, active: 2B}]"), "x.yaml:9: params[0].active"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_file_is_refused(cli, tmp_path, case):
    name, content, expected = CASES[case]
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    os.chdir(tmp_path)  # so a successful attack would write PWNED here
    start = time.monotonic()
    result = cli("validate", "--data", kb)
    assert time.monotonic() - start < 10
    assert result.exit_code == 3, result.output
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    assert not (tmp_path / "PWNED").exists()
    assert not (tmp_path / "cache").exists(), "an invalid knowledge base is never cached"


def test_duplicate_ids_and_aliases_across_files(cli, tmp_path):
    (tmp_path / "gpt-2.yaml").write_text(entry(id="gpt-2"))
    (tmp_path / "gpt2.yaml").write_text(entry(id="gpt2"))
    (tmp_path / "other.yaml").write_text(entry(id="other", aliases="[GPT 2]"))
    result = cli("validate", "--data", tmp_path)
    assert result.exit_code == 3
    assert result.stderr.count("clashes with entry 'gpt-2'") == 2


def test_cycles_of_any_length(cli, tmp_path):
    n = 6
    for i in range(n):
        (tmp_path / f"e{i}.yaml").write_text(entry(id=f"e{i}", lineage=f"[{{id: e{(i + 1) % n}, relation: extends}}]"))
    result = cli("validate", "--data", tmp_path)
    assert result.exit_code == 3 and "lineage cycle: " in result.stderr
    assert result.stderr.count("->") == n


def test_long_chain_has_no_recursion_limit(cli, tmp_path):
    for i in range(3000):
        parent = f"lineage: [{{id: e{i - 1}, relation: extends}}]" if i else ""
        (tmp_path / f"e{i}.yaml").write_text(entry(id=f"e{i}", lineage=None) + parent + "\n")
    assert cli("validate", "--data", tmp_path).exit_code == 0
    assert cli("tree", "e0", "--data", tmp_path).exit_code == 0
    assert cli("learn", "e2999", "--max", "5", "--data", tmp_path).exit_code == 0


def test_parent_dated_after_child(cli, tmp_path):
    (tmp_path / "old.yaml").write_text(entry(id="old", date="2018-01", lineage="[{id: new, relation: extends}]"))
    (tmp_path / "new.yaml").write_text(entry(id="new", date="2019-01"))
    result = cli("validate", "--data", tmp_path)
    assert result.exit_code == 3 and "old.yaml:9: lineage[0].id: parent 'new' (2019-01) is dated after" in result.stderr


def test_symlink_out_of_the_folder_is_not_followed(cli, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text(entry(id="secret"))
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "loner.yaml").write_text(GOOD)
    (kb / "secret.yaml").symlink_to(outside / "secret.yaml")
    (kb / "inside.yaml").symlink_to(kb / "loner.yaml")  # inside: followed, but its id is 'loner'
    result = cli("timeline", "--json", "--data", kb)
    assert result.exit_code == 3 and "inside.yaml" in result.stderr  # the stem check still applies
    (kb / "inside.yaml").unlink()
    result = cli("timeline", "--json", "--data", kb)
    assert result.exit_code == 0 and "secret" not in result.stdout


def test_many_problems_are_listed_fast(cli, tmp_path):
    for i in range(300):
        (tmp_path / f"e{i}.yaml").write_text(entry(id=f"e{i}", date="2019-13"))
    start = time.monotonic()
    result = cli("validate", "--data", tmp_path)
    assert result.exit_code == 3 and result.stderr.count("month 13") == 300
    assert time.monotonic() - start < 20


def test_written_files_get_the_usual_permissions(tmp_path):
    from evollm.fileio import write_atomic

    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "out.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o644
