import pytest

from evollm.errors import InvalidKnowledgeBase, NotFound
from evollm.kb import load_knowledge_base, normalize

from conftest import BROKEN, MINI


def test_mini_loads_sorted_by_date():
    kb = load_knowledge_base(MINI)
    assert len(kb) == 8
    dates = [e.date for e in kb]
    assert dates == sorted(dates)
    assert [c for c, _ in kb.children("attn")] == ["rotary", "dec", "enc"]


@pytest.mark.parametrize("query, expected", [("enc-2", "enc-2"), ("ENC2", "enc-2"), ("Enc Two", "enc-2"),
                                             ("enc_two", "enc-2"), ("attention everywhere", "attn"), ("Dec-1", "dec")])
def test_resolve_loose_spellings(query, expected):
    assert load_knowledge_base(MINI).resolve(query).id == expected


def test_resolve_unknown_suggests():
    with pytest.raises(NotFound, match="did you mean 'enc'"):
        load_knowledge_base(MINI).resolve("encc")


def test_normalize():
    assert normalize("GPT-2") == normalize("gpt2") == normalize("Gpt 2") == "gpt2"


@pytest.mark.parametrize("case, path, line, message", [
    ("bad-yaml", "bad.yaml", 4, "YAML: while parsing a flow sequence"),
    ("unknown-field", "extra.yaml", 10, "colour: unknown field"),
    ("dangling-parent", "orphan.yaml", 9, "lineage[0].id: no entry 'nowhere'"),
    ("cycle", "one.yaml", 9, "lineage: lineage cycle: one -> two -> one"),
    ("duplicate-alias", "twin.yaml", 7, "aliases: 'attn' clashes with entry 'attn'"),
    ("date-mismatch", "late.yaml", 4, "date: 2019-01 differs from the arXiv id's month 2018-10"),
])
def test_broken_knowledge_bases(case, path, line, message):
    with pytest.raises(InvalidKnowledgeBase) as caught:
        load_knowledge_base(BROKEN / case)
    problems = [str(p) for p in caught.value.problems]
    assert len(problems) == 1, problems
    assert problems[0].endswith(f"{path}:{line}: {message}") or f"{path}:{line}: {message}" in problems[0], problems


def test_every_problem_is_reported_at_once(tmp_path):
    for case in ("unknown-field", "dangling-parent", "date-mismatch"):
        for f in (BROKEN / case).glob("*.yaml"):
            (tmp_path / f.name).write_bytes(f.read_bytes())
    with pytest.raises(InvalidKnowledgeBase) as caught:
        load_knowledge_base(tmp_path)
    assert len(caught.value.problems) == 3


def test_id_must_match_file_stem(tmp_path):
    (tmp_path / "other.yaml").write_text((MINI / "attn.yaml").read_text())
    with pytest.raises(InvalidKnowledgeBase, match="1 problem") as caught:
        load_knowledge_base(tmp_path)
    assert "must equal the file name's stem 'other'" in str(caught.value.problems[0])


def test_parent_dated_after_child(tmp_path):
    for name in ("attn", "enc"):
        (tmp_path / f"{name}.yaml").write_text((MINI / f"{name}.yaml").read_text())
    text = (MINI / "enc.yaml").read_text().replace("date: 2018-10", "date: 2017-01")
    (tmp_path / "enc.yaml").write_text(text)
    with pytest.raises(InvalidKnowledgeBase) as caught:
        load_knowledge_base(tmp_path)
    assert "is dated after this entry" in str(caught.value.problems[0])


def test_missing_data_folder_is_not_found(tmp_path):
    with pytest.raises(NotFound, match="no data folder"):
        load_knowledge_base(tmp_path / "nope")


def test_user_entries_extend_and_correct_shipped(tmp_path, monkeypatch):
    import evollm.kb as kbmod

    monkeypatch.setattr(kbmod, "_package_data", lambda: MINI)
    home = tmp_path / "home"
    (home / "papers").mkdir(parents=True)
    monkeypatch.setenv("EVOLLM_HOME", str(home))
    corrected = (MINI / "enc.yaml").read_text().replace("title: An Encoder for Everything", "title: Corrected")
    (home / "papers" / "enc.yaml").write_text(corrected)
    extra = (MINI / "loner.yaml").read_text().replace("loner", "mine")
    (home / "papers" / "mine.yaml").write_text(extra)
    monkeypatch.setattr("evollm.cache.RACY_SECONDS", 0.0)
    for attempt in ("parsed", "cached"):
        kb = load_knowledge_base()
        assert type(kb.entries["enc"]).__name__ == ("Entry" if attempt == "parsed" else "Record")
        assert len(kb) == 9
        assert kb.entries["enc"].title == "Corrected"
        assert kb.overridden == {"enc"}
        assert str(kb.paths["enc"]) == str(home / "papers" / "enc.yaml")
        assert str(kb.paths["mine"]) == str(home / "papers" / "mine.yaml")
        assert str(kb.paths["loner"]) == str(MINI / "loner.yaml")
