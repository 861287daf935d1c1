"""What people type (issue 17 §1, §5): several words without quotes, arXiv ids for entries, one year
grammar, names in any case with "did you mean", no match -> exit 1, validate --json, plurals."""

import json

import pytest

from conftest import BROKEN, MINI


def test_search_takes_several_words_without_quotes(cli):
    quoted = cli("search", "enc two", "--json", "--data", MINI)
    loose = cli("search", "enc", "two", "--json", "--data", MINI)
    assert loose.exit_code == 0, loose.output
    assert json.loads(loose.stdout) == json.loads(quoted.stdout) and json.loads(loose.stdout)[0]["id"] == "enc-2"


def test_search_kv_cache_on_the_shipped_data(cli):
    result = cli("search", "kv", "cache", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout), result.output


def test_each_search_hit_shows_its_id(cli):
    result = cli("search", "encoder", "--data", MINI)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert any(" enc-2 " in line for line in lines) and any(" enc " in line for line in lines), result.stdout


@pytest.mark.parametrize("form", ["1706.03762", "arXiv:1706.03762v5", "https://arxiv.org/abs/1706.03762",
                                  "arxiv.org/pdf/1706.03762.pdf"])
def test_show_takes_an_arxiv_id_in_any_form(cli, form):
    result = cli("show", form, "--json", "--data", MINI)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["id"] == "attn"


def test_every_id_argument_takes_an_arxiv_id(cli):
    result = cli("path", "arXiv:1706.03762", "enc", "--json", "--data", MINI)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0][0]["id"] == "attn"


def test_an_unknown_name_offers_the_best_search_matches(cli):
    result = cli("uses", "rotary")  # the shipped data: RoPE is the rotary embedding; RoBERTa is only spelled alike
    assert result.exit_code == 1
    assert "did you mean 'rope'" in result.stderr and "roberta" not in result.stderr


@pytest.mark.parametrize("years, expected", [
    ("2019", ["dec-2", "enc-2"]), ("2018-2019", ["rotary", "dec", "enc", "dec-2", "enc-2"]),
    ("..2017", ["attn"]), ("2020..", ["loner", "hybrid"]),
])
def test_one_year_grammar(cli, years, expected):
    for args in (["timeline", years], ["timeline", "--year", years], ["export", "--format", "json", "--year", years]):
        result = cli(*args, "--json", "--data", MINI) if args[0] == "timeline" else cli(*args, "--data", MINI)
        assert result.exit_code == 0, (args, result.output)
        assert [e["id"] for e in json.loads(result.stdout)] == expected, args


def test_timeline_years_given_twice_disagreeing(cli):
    result = cli("timeline", "2018", "--year", "2019", "--data", MINI)
    assert result.exit_code == 2 and "give the years once" in result.stderr


@pytest.mark.parametrize("name", ["ROPE", "mqa"])
def test_demo_names_in_any_case_and_through_entry_aliases(cli, name):
    result = cli("demo", name, "--settings", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["name"] == "seed"


def test_demo_did_you_mean(cli):
    result = cli("demo", "pp")
    assert result.exit_code == 1 and "did you mean 'ppo'" in result.stderr


def test_validate_json(cli):
    result = cli("validate", "--json", "--data", MINI)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"valid": True, "entries": 8, "warnings": [], "problems": []}


def test_validate_json_of_a_broken_knowledge_base(cli):
    case = sorted(BROKEN.iterdir())[0]
    result = cli("validate", "--json", "--data", case)
    assert result.exit_code == 3, result.output
    report = json.loads(result.stdout)
    assert report["valid"] is False and report["problems"] and {"path", "line", "field", "message"} <= set(report["problems"][0])


def test_plurals(cli, tmp_path):
    folder = tmp_path / "one"
    folder.mkdir()
    (folder / "attn.yaml").write_bytes((MINI / "attn.yaml").read_bytes())
    result = cli("validate", "--data", folder)
    assert "1 entry, valid." in result.stderr, result.output


def test_no_match_is_exit_1_on_stderr(cli):
    result = cli("search", "zebra", "--json", "--data", MINI)
    assert result.exit_code == 1 and json.loads(result.stdout) == []


def test_the_readme_drafts_a_paper_not_already_shipped():
    import re
    from pathlib import Path

    from evollm.kb import load_knowledge_base

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    ids = re.findall(r"evollm add --arxiv ([0-9.]+)", readme)
    shipped = {entry.arxiv for entry in load_knowledge_base(None)}
    assert ids and not set(ids) & shipped, ids


def test_export_help_points_to_tree_for_mermaid(cli):
    assert "evollm tree --format mermaid" in " ".join(cli("export", "--help").stdout.split())


def test_kinds_and_topics_in_any_case_with_did_you_mean(cli):
    upper = cli("timeline", "--kind", "MODEL", "--json", "--data", MINI)
    lower = cli("timeline", "--kind", "model", "--json", "--data", MINI)
    assert upper.exit_code == 0 and json.loads(upper.stdout) == json.loads(lower.stdout) != []
    result = cli("timeline", "--kind", "modle", "--data", MINI)
    assert result.exit_code == 2 and "unknown kind 'modle'; did you mean 'model'?" in result.stderr
    result = cli("timeline", "--family", "encc", "--data", MINI)
    assert result.exit_code == 2 and "did you mean 'Enc'?" in result.stderr


def test_plain_evollm_prints_help_on_stdout_and_exits_0():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "evollm"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("Usage: ") and done.stderr == ""


def test_paths_says_where_the_files_are(cli, tmp_path):
    result = cli("paths")  # CliRunner: a pipe
    assert result.exit_code == 0, result.output
    rows = dict(line.split("\t") for line in result.stdout.splitlines())
    assert rows["your entries"] == str(tmp_path / "home" / "papers")  # conftest's EVOLLM_HOME
    assert rows["cache"] == str(tmp_path / "cache" / "evollm")
    assert rows["arXiv cache"] == str(tmp_path / "cache" / "evollm" / "arxiv.json")
    assert rows["shipped entries"].endswith("papers")
    assert json.loads(cli("paths", "--json").stdout)["yours"] == rows["your entries"]


def test_data_folder_holding_papers_says_did_you_mean(cli, tmp_path):
    (tmp_path / "papers").mkdir()
    (tmp_path / "papers" / "attn.yaml").write_bytes((MINI / "attn.yaml").read_bytes())
    result = cli("timeline", "--data", tmp_path)
    assert result.exit_code == 1 and f"did you mean --data {tmp_path / 'papers'}?" in result.stderr
    assert cli("timeline", "--data", tmp_path / "papers").exit_code == 0


def test_an_empty_data_folder_says_so(cli, tmp_path):
    result = cli("show", "attn", "--data", tmp_path)
    assert result.exit_code == 1 and "is empty" in result.stderr
