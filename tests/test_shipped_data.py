"""Checks of the knowledge base that ships with evollm (data/), not of the code.

Everything here reads the shipped files only: the seed blog's headings are frozen in
tests/fixtures/seed-headings.txt, so no test needs the seed itself.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from evollm import graph
from evollm.demos.registry import DEMOS
from evollm.kb import _package_data, load_knowledge_base, normalize
from evollm.query import load_eras

FIXTURES = Path(__file__).parent / "fixtures"
TRANSFORMER_MONTH = "2017-06"


@pytest.fixture(scope="module")
def kb():
    # Validation errors raise InvalidKnowledgeBase, so loading is itself the validity check.
    return load_knowledge_base(use_cache=False)


@pytest.fixture(scope="module")
def seed_map():
    path = _package_data().parent / "seed-map.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))["headings"]


def _sentences(text: str) -> int:
    text = re.sub(r"\b(e\.g|i\.e|et al|vs|etc)\.", "x", text)
    text = re.sub(r"(\d)\.(\d)", r"\1\2", text)
    return len([s for s in re.split(r"(?<=[.!?])\s+(?=\S)", text.strip()) if s])


def test_shipped_kb_is_valid_and_complete(kb):
    assert len(kb) >= 150
    assert not kb.warnings, [str(w) for w in kb.warnings]  # no drafts ship


def test_every_seed_heading_is_mapped_to_existing_entries(kb, seed_map):
    headings = [line for line in (FIXTURES / "seed-headings.txt").read_text(encoding="utf-8").splitlines() if line]
    assert len(headings) > 100
    mapped = [item["heading"] for item in seed_map]
    assert mapped == headings, "seed-map.yaml must list the seed's headings, in seed order"
    for item in seed_map:
        assert item.get("note"), f"{item['heading']!r}: no note"
        assert isinstance(item["year"], int)
        for entry_id in item["ids"]:
            assert entry_id in kb.entries, f"{item['heading']!r} maps to unknown entry {entry_id!r}"
    empty = [item["heading"] for item in seed_map if not item["ids"]]
    assert len(empty) <= 2, empty  # only headings that name no paper


@pytest.mark.parametrize("field", ["problem", "solution"])
def test_prose_is_two_to_four_sentences(kb, field):
    bad = {e.id: _sentences(getattr(e, field)) for e in kb if not 2 <= _sentences(getattr(e, field)) <= 4}
    assert not bad, bad


def test_every_entry_has_sources_and_key_ideas(kb):
    for entry in kb:
        assert entry.sources, f"{entry.id}: no sources"
        assert entry.problem.strip() and entry.solution.strip(), entry.id
        assert 3 <= len(entry.key_ideas) <= 6, f"{entry.id}: {len(entry.key_ideas)} key ideas"


def test_entries_after_the_transformer_have_a_noted_parent(kb):
    for entry in kb:
        if entry.month > TRANSFORMER_MONTH:
            assert entry.lineage, f"{entry.id}: no parent"
        for parent in entry.lineage:
            assert parent.note.strip(), f"{entry.id}: lineage to {parent.id} has no note"


def test_every_demo_names_an_entry_that_names_it_back(kb):
    for name, spec in DEMOS.items():
        assert spec.entry in kb.entries, f"demo {name}: no entry {spec.entry!r}"
        assert kb.entries[spec.entry].demo == name, f"demo {name}: entry {spec.entry} does not name it"
    for entry in kb:
        if entry.demo:
            assert DEMOS[entry.demo].entry == entry.id


def test_eras_cover_every_year(kb):
    eras = load_eras()
    years = {entry.year for entry in kb}
    assert years <= set(eras), sorted(years - set(eras))
    for year, era in eras.items():
        assert era.get("title") and era.get("summary"), year


def test_bert_family_descends_from_bert(kb):
    members = set(kb.families()["BERT"])
    expected = {"bert", "roberta", "distilbert", "albert", "electra", "deberta", "modernbert"}
    assert expected <= members
    for entry_id in expected - {"bert"}:
        assert "bert" in graph.ancestors(kb, entry_id), entry_id


def test_gpt_chain_is_connected(kb):
    chain = ["gpt-1", "gpt-2", "gpt-3", "instructgpt", "chatgpt", "gpt-4"]
    assert set(chain) <= set(kb.families()["GPT"])
    for parent, child in zip(chain, chain[1:]):
        assert parent in graph.parents_of(kb, child), f"{child} should descend directly from {parent}"


def test_names_and_aliases_are_unique(kb):
    seen: dict[str, str] = {}
    for entry in kb:
        for key in {normalize(k) for k in (entry.id, entry.name, *entry.aliases)}:
            assert key not in seen, f"{entry.id} and {seen[key]} share the name {key!r}"
            seen[key] = entry.id


def test_every_link_is_https(kb):
    for entry in kb:
        for url in [*entry.links.values(), *entry.sources]:
            assert url.startswith("https://"), f"{entry.id}: {url}"


# --- pins: facts a second time, as each batch's writer confirmed them against the primary source ---

PINS = Path(__file__).parent / "pins"


def _pins() -> list[tuple[str, str, dict]]:
    out = []
    for path in sorted(PINS.glob("*.yaml")):
        for entry_id, facts in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).items():
            out.append((path.stem, entry_id, facts))
    return out


def test_pins_cover_every_entry_added_after_the_first_knowledge_base(kb):
    pinned = {entry_id for _, entry_id, _ in _pins()}
    first = {line.split("\t")[0] for line in (_package_data().parents[1] / "docs" / "fact-check" / "planned-ids.tsv")
             .read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")}
    unpinned = sorted(set(kb.entries) - pinned - first)
    assert not unpinned, f"entries without pinned facts: {unpinned}"


@pytest.mark.parametrize("batch, entry_id, facts", _pins(), ids=lambda v: v if isinstance(v, str) else "")
def test_pinned_facts_hold(kb, batch, entry_id, facts):
    from evollm.models import parse_count

    assert entry_id in kb.entries, f"{batch}: pinned {entry_id} is not in the knowledge base"
    entry = kb.entries[entry_id]
    assert entry.date == str(facts["date"]), f"{entry_id}: date"
    assert entry.arxiv == facts.get("arxiv"), f"{entry_id}: arxiv"
    assert sorted(entry.labs) == sorted(facts["labs"]), f"{entry_id}: labs"
    sizes = {p.label: p.total for p in entry.params}
    for label, total in (facts.get("params") or {}).items():
        assert sizes.get(label) == parse_count(total), f"{entry_id}: params {label}"
