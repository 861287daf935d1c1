import json

import pytest

from conftest import BROKEN, MINI


def test_version_and_help_read_no_knowledge_base(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("EVOLLM_DATA", str(BROKEN / "bad-yaml"))
    result = cli("--version")
    assert result.exit_code == 0 and result.stdout.startswith("evollm ")
    result = cli("--help")
    assert result.exit_code == 0 and "timeline" in result.stdout


def test_timeline_year(cli):
    result = cli("timeline", "2019", "--data", MINI)
    assert result.exit_code == 0, result.output
    assert "Dec-2" in result.stdout and "Enc-2" in result.stdout and "Hybrid" not in result.stdout
    assert result.stdout.index("Dec-2") < result.stdout.index("Enc-2")  # date order


def test_timeline_json_and_filters(cli):
    result = cli("timeline", "2018..2020", "--data", MINI, "--json")
    ids = [e["id"] for e in json.loads(result.stdout)]
    assert ids == ["rotary", "dec", "enc", "dec-2", "enc-2", "loner", "hybrid"]
    result = cli("timeline", "--lab", "lab one", "--data", MINI, "--json")
    assert [e["id"] for e in json.loads(result.stdout)] == ["attn", "dec", "dec-2", "hybrid"]
    result = cli("timeline", "--kind", "benchmark", "--data", MINI, "--json")
    assert [e["id"] for e in json.loads(result.stdout)] == ["loner"]
    result = cli("timeline", "--family", "enc", "--topic", "pretraining", "--data", MINI, "--json")
    assert [e["id"] for e in json.loads(result.stdout)] == ["enc"]


def test_timeline_overview(cli):
    result = cli("timeline", "--data", MINI)
    assert result.exit_code == 0
    for year in ("2017", "2018", "2019", "2020"):
        assert year in result.stdout


@pytest.mark.parametrize("args, message", [
    (["timeline", "20x9"], "invalid year '20x9'"),
    (["timeline", "2020..2018"], "runs backwards"),
    (["timeline", "1066"], "out of range"),
    (["timeline", "--kind", "toy"], "unknown kind 'toy'"),
    (["timeline", "--family", "nope"], "unknown family 'nope'; known families: Dec, Enc"),
    (["tree", "--family", "nope"], "unknown family"),
    (["tree", "attn", "--depth", "-1"], "Invalid value for '--depth'"),  # Typer checks min=1 (issue 20)
    (["tree"], "give one of: an ID, --family NAME or --all"),
    (["search", "  "], "empty search text"),
    (["show", "attn", "--open", "homepage"], "'homepage' is not one of 'paper', 'code', 'blog'"),  # a Typer choice (issue 20)
])
def test_usage_errors_exit_2(cli, args, message):
    result = cli(*args, "--data", MINI)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_show_card(cli):
    result = cli("show", "ENC2", "--data", MINI)
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in ("Enc-2", "A Better Encoder", "Lab Three", "Problem", "Enc-1 was undertrained.",
                 "improves", "Enc-1 (enc, 2018-10)", "combines", "Hybrid (hybrid, 2020-10)"):
        assert text in out, text


def test_show_json(cli):
    data = json.loads(cli("show", "hybrid", "--data", MINI, "--json").stdout)
    assert data["id"] == "hybrid"
    assert data["params"] == [{"label": "moe", "total": 47_000_000_000, "active": 13_000_000_000}]
    assert [p["id"] for p in data["lineage"]] == ["enc-2", "dec-2"]
    data = json.loads(cli("show", "attn", "--data", MINI, "--json").stdout)
    assert [c["id"] for c in data["children"]] == ["rotary", "dec", "enc"]
    assert data["influenced"] == 5  # children and grandchildren
    assert data["demo"] == "transformer"


def test_show_unknown_exits_1_with_suggestion(cli):
    result = cli("show", "encc", "--data", MINI)
    assert result.exit_code == 1
    assert "no entry 'encc'; did you mean 'enc'" in result.stderr


def test_show_open(cli, monkeypatch):
    opened = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    assert cli("show", "attn", "--open", "paper", "--data", MINI).exit_code == 0
    assert opened == ["https://arxiv.org/abs/1706.03762"]
    result = cli("show", "enc", "--open", "code", "--data", MINI)
    assert result.exit_code == 1 and "enc has no code link" in result.stderr


def test_show_run_demo_without_demo(cli):
    result = cli("show", "enc", "--run-demo", "--data", MINI)
    assert result.exit_code == 1
    assert "enc has no demo; entries with one: attn (transformer)" in result.stderr


def test_tree_family_and_descendants(cli):
    result = cli("tree", "--family", "enc", "--data", MINI)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "The Enc family"
    assert lines[1].startswith("Enc-1 (2018-10)")
    assert "improves Enc-2" in lines[2] and "combines Hybrid" in lines[3]
    result = cli("tree", "attn", "--data", MINI)
    assert result.stdout.count("Hybrid") == 2 and "also under another parent" in result.stdout
    result = cli("tree", "hybrid", "--ancestors", "--json", "--data", MINI)
    top = json.loads(result.stdout)[0]
    assert top["id"] == "hybrid" and [c["id"] for c in top["children"]] == ["dec-2", "enc-2"]


def test_search_ranks_names_first(cli):
    data = json.loads(cli("search", "encoder", "--data", MINI, "--json").stdout)
    ids = [d["id"] for d in data]
    assert set(ids) == {"enc", "enc-2", "hybrid"}
    assert [d["score"] for d in data] == sorted([d["score"] for d in data], reverse=True)
    assert json.loads(cli("search", "enc two", "--data", MINI, "--json").stdout)[0]["id"] == "enc-2"
    assert json.loads(cli("search", "encoder", "--limit", "1", "--data", MINI, "--json").stdout)[0]
    result = cli("search", "zebra", "--data", MINI)
    assert result.exit_code == 1 and "No entry matches" in result.stderr  # no match: exit 1 (issue 17 §5)


@pytest.mark.parametrize("case", sorted(p.name for p in BROKEN.iterdir()))
def test_invalid_knowledge_base_exits_3_on_every_command(cli, case):
    for args in (["validate"], ["timeline", "2019"], ["show", "attn"], ["search", "x"], ["tree", "attn"]):
        result = cli(*args, "--data", BROKEN / case)
        assert result.exit_code == 3, (args, result.output)
        assert f"broken/{case}/" in result.stderr and "Error: the knowledge base has" in result.stderr
        assert result.stdout == "" and "Traceback" not in result.output


def test_validate_ok_and_drafts_warn(cli, tmp_path):
    result = cli("validate", "--data", MINI)
    assert result.exit_code == 0 and "8 entries, valid." in result.stderr
    (tmp_path / "d.yaml").write_text("id: d\nname: D\ntitle: T\ndate: 2020-01\nlabs: [L]\nkind: model\nstatus: draft\n")
    result = cli("validate", "--data", tmp_path)
    assert result.exit_code == 0
    assert "warning:" in result.stderr and "draft" in result.stderr


def test_data_env_variable(cli, monkeypatch):
    monkeypatch.setenv("EVOLLM_DATA", str(MINI))
    assert json.loads(cli("show", "loner", "--json").stdout)["kind"] == "benchmark"


def test_missing_data_folder(cli, tmp_path):
    result = cli("timeline", "--data", tmp_path / "none")
    assert result.exit_code == 1 and "no data folder" in result.stderr


def test_local_correction_is_shown(cli, tmp_path, monkeypatch):
    import evollm.kb as kbmod

    monkeypatch.setattr(kbmod, "_package_data", lambda: MINI)
    papers = tmp_path / "home" / "papers"
    papers.mkdir(parents=True)
    (papers / "loner.yaml").write_text((MINI / "loner.yaml").read_text().replace("Lab Five", "Lab Six"))
    result = cli("show", "loner")
    assert "Lab Six" in result.stdout and "local correction" in result.stdout
    assert json.loads(cli("show", "loner", "--json").stdout)["local_correction"] is True
