"""Renderers are pure: render at a fixed width and compare the text."""

from rich.console import Console

from evollm import graph
from evollm.kb import load_knowledge_base
from evollm.render import human_count, params_text
from evollm.render.card import card
from evollm.render.timeline import year_tables
from evollm.render.tree import lineage_tree

from conftest import MINI


def text_of(renderable, width=80):
    console = Console(width=width, color_system=None, record=True, file=open("/dev/null", "w"))
    console.print(renderable)
    return console.export_text()


def test_human_count():
    assert [human_count(n) for n in (340_000_000, 1_500_000_000, 175_000_000_000, 1_600_000_000_000, 6_700_000_000)] == \
        ["340M", "1.5B", "175B", "1.6T", "6.7B"]


def test_params_text_tells_moe_apart():
    kb = load_knowledge_base(MINI)
    assert params_text(kb.entries["hybrid"].params) == "moe: 47B (13B active)"
    assert params_text(kb.entries["enc"].params) == "base: 110M, large: 340M"
    assert params_text(kb.entries["dec-2"].params) == "1.5B"


def test_tree_text_exact():
    kb = load_knowledge_base(MINI)
    out = text_of(lineage_tree(graph.family_forest(kb, "Enc"), kb.entries, "The Enc family"))
    assert out.splitlines() == [
        "The Enc family",
        "Enc-1 (2018-10)",
        "└── improves Enc-2 (2019-07)",
        "    └── combines Hybrid (2020-10)",
    ]


def test_timeline_fits_80_columns():
    kb = load_knowledge_base(MINI)
    out = text_of(year_tables(list(kb), {2018: {"title": "A Year"}}), width=80)
    assert all(len(line) <= 80 for line in out.splitlines())
    assert "2018  A Year  (3 entries)" in out


def test_card_sections_in_order():
    kb = load_knowledge_base(MINI)
    e = kb.entries["enc"]
    out = text_of(card(e, parents=[(kb.entries["attn"], "builds-on", "keeps the encoder stack")], children=[],
                       uses=[], adopted_by=[], influenced=2, overridden=False, path="x"), width=80)
    order = [out.index(s) for s in ("Title", "Parameters", "Problem", "Solution", "Parents", "Influence")]
    assert order == sorted(order)
    assert all(len(line) <= 80 for line in out.splitlines())


def test_demo_tables_print_brackets_literally():
    from evollm.demos.base import Result, check
    from evollm.render.demo import metrics_table, checks_table

    out = text_of(metrics_table({"tokens": ["es", "est"], "[bold]": "[red]x"}))
    assert "['es', 'est']" in out or "[es, est]" in out
    assert "[red]x" in out and "[bold]" in out
    assert "[b]" in text_of(checks_table(Result([check("[b]", 1, "<=", 2)]).checks))


def test_reading_list_wraps_under_its_text_not_under_the_number():
    from evollm.render.lineage import reading_list

    kb = load_knowledge_base(MINI)
    why = "a reason long enough to need several lines at this width, " * 3
    out = text_of(reading_list([(kb.entries["enc"], why.strip()), (kb.entries["enc-2"], "")], kb.entries["enc-2"]),
                  width=50)
    lines = out.rstrip("\n").splitlines()
    assert lines[0] == "To understand Enc-2, read in this order:"
    assert lines[1].startswith("  1. Enc-1 (enc, 2018-10): a reason")
    item_one = lines[1:lines.index(next(line for line in lines if line.startswith("  2.")))]
    assert len(item_one) > 2 and all(line.startswith("     ") and line.strip() for line in item_one[1:])
    assert " ".join(line.strip() for line in item_one).endswith(why.strip())
    assert lines[-1].startswith("  2. Enc-2 (enc-2, 2019-07)")


def test_a_label_longer_than_the_indent_keeps_a_space_and_the_text_still_wraps_to_the_width():
    from evollm.render.styled import Styled

    out = Styled().wrapped("300B tokens", 80, label="Training tokens", indent=13)
    assert out.plain() == "Training tokens 300B tokens"
    long = Styled().wrapped("word " * 30, 40, label="Training compute", indent=13).plain().splitlines()
    assert long[0].startswith("Training compute word") and all(len(line) <= 40 for line in long)
    assert all(line.startswith(" " * 13 + "word") for line in long[1:])
    short = Styled().wrapped("word " * 30, 40, label="Date", indent=13).plain().splitlines()
    assert short[0].startswith("Date         word") and all(len(line) <= 40 for line in short)
    bare = Styled().wrapped("word " * 30, 40).plain().splitlines()
    assert all(line.startswith("word") and len(line) <= 40 for line in bare)
