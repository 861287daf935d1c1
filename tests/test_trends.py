"""The numbers of the evolution: their schema, the growth fit and the `trends` command."""

from __future__ import annotations

import json
import math

import pytest
import yaml
from pydantic import ValidationError

from evollm.models import Entry, parse_amount
from evollm.trends import Fit, Point, fit_growth, records, trends

SRC = "https://example.org/paper"
BASE = dict(id="x", name="X", title="T", date="2019-02", labs=["L"], kind="model", problem="p", solution="s",
            sources=[SRC])


def make(**changes):
    return Entry.model_validate({**BASE, **changes})


# --- schema ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, value", [("128K", 128e3), ("14.8T", 14.8e12), ("3.8e24", 3.8e24), ("3.8e+24", 3.8e24),
                                         (2048, 2048.0), (2.5e24, 2.5e24), ("1M", 1e6)])
def test_amounts_accept_units_and_scientific_notation(text, value):
    assert parse_amount(text) == value
    assert make(context=[{"value": text, "source": SRC}]).context[0].value == value


@pytest.mark.parametrize("bad, message", [
    (-5, "greater than 0"), (0, "greater than 0"), (float("nan"), "finite"), (float("inf"), "finite"), (float("-inf"), "finite"),
    ("lots", "expected a number like"), ("1e", "expected a number like"), (True, "yes/no"),
    ("-3K", "expected a number like"), ("١٢٨K", "expected a number like"),
])
def test_amounts_refuse_bad_forms(bad, message):
    with pytest.raises(ValidationError, match=message):
        make(training_tokens=[{"value": bad, "source": SRC}])


def test_a_source_must_be_cited_in_sources_or_links():
    with pytest.raises(ValidationError, match=r"training_compute\[0\].source: https://elsewhere.org/x is in neither"):
        make(training_compute=[{"value": "1e24", "source": "https://elsewhere.org/x"}])
    with pytest.raises(ValidationError, match=r"params\[0\].source"):
        make(params=[{"label": "a", "total": "1B", "source": "https://elsewhere.org/x"}])
    linked = make(links={"blog": "https://lab.example/post"},
                  context=[{"value": "8K", "source": "https://lab.example/post"}])
    assert linked.context[0].source == "https://lab.example/post"


def test_an_estimate_needs_a_note():
    with pytest.raises(ValidationError, match="estimated: true needs a note"):
        make(training_compute=[{"value": "1e24", "source": SRC, "estimated": True}])
    ok = make(training_compute=[{"value": "1e24", "source": SRC, "estimated": True, "note": "6·N·D"}])
    assert ok.training_compute[0].estimated


def test_a_number_needs_a_source_and_no_unknown_keys():
    with pytest.raises(ValidationError, match="source"):
        make(context=[{"value": "8K"}])
    with pytest.raises(ValidationError, match="Extra inputs"):
        make(context=[{"value": "8K", "source": SRC, "unit": "tokens"}])


def test_a_release_day_beside_an_arxiv_id_needs_a_date_note():
    with pytest.raises(ValidationError, match="is a release day"):
        make(date="2019-02-14", arxiv="1902.00001")
    assert make(date="2019-02-14", arxiv="1902.00001", date_note="weights out that day").date == "2019-02-14"
    assert make(date="2019-02-14").date_note is None  # no paper: the announcement day needs no note


# --- the fit -----------------------------------------------------------------------------------


def _synthetic(doubling_months: float, n: int = 40, noise: float = 0.15, seed: int = 3) -> list[Point]:
    import numpy as np

    rng = np.random.default_rng(seed)
    slope = 12 * math.log10(2) / doubling_months
    when = np.sort(rng.uniform(2015, 2025, n))
    logs = 6 + slope * (when - 2015) + rng.normal(0, noise, n)
    return [Point(f"e{i}", f"E{i}", f"{int(w)}-06", float(w), float(10 ** v)) for i, (w, v) in enumerate(zip(when, logs))]


@pytest.mark.parametrize("months", [4.0, 12.0, 30.0])
def test_fit_recovers_a_known_doubling_time_within_its_interval(months):
    fit = fit_growth(_synthetic(months), seed=0)
    assert abs(Fit.doubling(fit.slope) - months) / months < 0.15
    fast, slow = Fit.doubling(fit.high), Fit.doubling(fit.low)
    assert fast < months < slow
    assert fit.low < fit.slope < fit.high


def test_fit_is_exact_on_noiseless_points():
    points = _synthetic(6.0, noise=0.0)
    fit = fit_growth(points, seed=0)
    assert Fit.doubling(fit.slope) == pytest.approx(6.0, rel=1e-9)
    assert fit.low == pytest.approx(fit.slope, rel=1e-9) and fit.high == pytest.approx(fit.slope, rel=1e-9)


def test_bootstrap_is_reproducible_with_a_seed_and_moves_without_it():
    points = _synthetic(12.0)
    assert fit_growth(points, seed=7) == fit_growth(points, seed=7)
    assert fit_growth(points, seed=7) != fit_growth(points, seed=8)


def test_few_points_give_a_fit_without_an_interval():
    from evollm.trends import MIN_FOR_INTERVAL

    points = _synthetic(12.0)
    assert fit_growth(points[:MIN_FOR_INTERVAL - 1]).low is None
    assert fit_growth(points[:MIN_FOR_INTERVAL]).low is not None


def test_too_few_points_or_one_date_give_no_fit():
    assert fit_growth(_synthetic(12.0)[:2]) is None
    same_day = [Point(str(i), "x", "2020-01", 2020.0, 10.0 ** i) for i in range(5)]
    assert fit_growth(same_day) is None


def test_records_are_the_points_that_beat_every_earlier_one():
    pts = [Point("a", "A", "2018-01", 2018.0, 5), Point("b", "B", "2019-01", 2019.0, 3),
           Point("c", "C", "2020-01", 2020.0, 9), Point("d", "D", "2021-01", 2021.0, 9),
           Point("e", "E", "2022-01", 2022.0, 12)]
    assert [p.entry_id for p in records(pts)] == ["a", "c", "e"]
    assert [p.entry_id for p in records(list(reversed(pts)))] == ["a", "c", "e"]  # order of the input is irrelevant


class _E:
    """An entry as the fit reads it."""

    def __init__(self, id, date, *, params=(), context=()):
        from evollm.record import Amount, Size

        self.id, self.name, self.date = id, id.upper(), date
        self.params = [Size(f"{id}-{n}", n) for n in params]
        self.context = [Amount(v, SRC) for v in context]
        self.training_tokens, self.training_compute = [], []


def test_entries_without_a_number_are_excluded_and_counted():
    entries = [_E("a", "2018-01", params=[100, 1000], context=[512]), _E("b", "2019-01", context=[2048]),
               _E("c", "2020-01", params=[10_000]), _E("d", "2021-01", params=[20_000], context=[8192]),
               _E("e", "2022-01")]
    view = trends(entries)
    rows = {r.quantity: r for r in view.rows}
    assert (rows["params"].counted, rows["params"].excluded) == (3, 2)
    assert (rows["context"].counted, rows["context"].excluded) == (3, 2)
    assert rows["params"].points[0].value == 1000  # an entry's largest size stands for it
    assert rows["tokens"].counted == 0 and rows["tokens"].fit is None
    assert rows["params"].first.entry_id == "a" and rows["params"].latest.entry_id == "d"
    frontier = {r.quantity: r for r in trends(entries, frontier=True).rows}
    assert [p.entry_id for p in frontier["context"].points] == ["a", "b", "d"]


# --- the command -------------------------------------------------------------------------------


def _kb_with_numbers(folder):
    folder.mkdir()
    for n, (year, ctx, toks) in enumerate([(2018, "500", "1B"), (2019, "1K", "10B"), (2020, "2K", "100B"),
                                           (2021, "4K", "1T"), (2022, "8K", None)]):
        entry = {**BASE, "id": f"m{n}", "name": f"M{n}", "date": f"{year}-03", "context": [{"value": ctx, "source": SRC}],
                 **({"lineage": [{"id": f"m{n - 1}", "relation": "scales", "note": "bigger"}]} if n else {})}
        if toks:
            entry["training_tokens"] = [{"value": toks, "source": SRC}]
        (folder / f"m{n}.yaml").write_text(yaml.safe_dump(entry, allow_unicode=True), encoding="utf-8")
    return folder


def test_trends_command_json_round_trip(cli, tmp_path):
    folder = _kb_with_numbers(tmp_path / "kb")
    result = cli("trends", "--json", "--data", folder)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    context = next(q for q in data["quantities"] if q["quantity"] == "context")
    assert context["doubling_months"] == pytest.approx(12.0)  # one doubling a year, exactly
    assert context["growth_per_year"] == pytest.approx(2.0)
    assert context["entries"] == 5 and context["excluded"] == 0
    tokens = next(q for q in data["quantities"] if q["quantity"] == "tokens")
    assert tokens["growth_per_year"] == pytest.approx(10.0) and tokens["excluded"] == 1
    assert "doubled about every 12 months between 2018 and 2022" in context["summary"]
    assert cli("trends", "--json", "--data", folder).stdout == result.stdout  # seeded: the same answer
    assert json.loads(cli("trends", "--json", "--since", "2020", "--data", folder).stdout)["quantities"][1]["entries"] == 3


def test_trends_piped_is_tab_separated_whole_lines(cli, tmp_path):
    folder = _kb_with_numbers(tmp_path / "kb")
    out = cli("trends", "--data", folder).stdout
    lines = out.splitlines()
    assert lines[0].split("\t")[:4] == ["quantity", "entries", "excluded", "growth/yr"]
    context = next(line for line in lines if line.startswith("context\t")).split("\t")
    assert context[3] == "2.00x" and context[5] == "12.0"
    assert context[7] == "M0 (2018-03, 500 tokens)" and context[8] == "M4 (2022-03, 8K tokens)"
    assert all(line == line.rstrip() for line in lines)


def test_trends_table_at_a_fixed_width(tmp_path):
    from rich.console import Console

    from evollm.render.trends import trends_table

    entries = [_E("a", "2018-01", context=[512]), _E("b", "2019-01", context=[1024]), _E("c", "2020-01", context=[2048])]
    console = Console(width=120, record=True, no_color=True)
    console.print(trends_table(trends(entries)))
    text = console.export_text()
    assert "Growth of the numbers, first..now" in text
    assert "2.00x" in text and "12.0" in text
    assert "Context windows doubled about every 12 months between 2018 and 2020" in text
    assert "Training data: too few entries with a value to fit a trend (0)." in text


def test_show_prints_the_numbers_and_their_sources(cli, tmp_path):
    folder = tmp_path / "kb"
    folder.mkdir()
    entry = {**BASE, "links": {"blog": "https://lab.example/post"},
             "params": [{"label": "X-7B", "total": "7B", "source": "https://lab.example/post"}, {"label": "X-1B", "total": "1B"}],
             "context": [{"value": "128K", "source": SRC}],
             "training_tokens": [{"value": "14.8T", "source": SRC}],
             "training_compute": [{"value": "3.8e24", "source": SRC, "estimated": True, "note": "6·N·D"}]}
    (folder / "x.yaml").write_text(yaml.safe_dump(entry, allow_unicode=True), encoding="utf-8")
    card = cli("show", "x", "--data", folder).stdout
    assert "128K tokens" in card and "14.8T tokens" in card and "3.8e24 FLOP (est.)" in card
    assert "Sources of the numbers" not in card
    listed = cli("show", "x", "--sources", "--data", folder).stdout
    assert "X-7B: 7B  <- https://lab.example/post" in listed
    assert "X-1B: 1B  <- the entry's sources (below)" in listed
    assert "3.8e24 FLOP (est.)  <- https://example.org/paper  (6·N·D)" in listed


def test_plot_and_csv_carry_the_numbers(cli, tmp_path):
    import csv
    import io

    folder = _kb_with_numbers(tmp_path / "kb")
    points = json.loads(cli("plot", "context", "--json", "--data", folder).stdout)
    assert [p["value"] for p in points] == [500, 1000, 2000, 4000, 8000]
    chart = cli("plot", "tokens", "--data", folder, "--height", "12").stdout
    assert "Training tokens" in chart and "1T" in chart
    rows = list(csv.DictReader(io.StringIO(cli("export", "--format", "csv", "--data", folder).stdout)))
    assert rows[0]["context"] == "500" and rows[0]["training_tokens"] == "1000000000"


def test_the_html_page_has_the_number_charts_and_the_trends_table(cli, tmp_path):
    folder = _kb_with_numbers(tmp_path / "kb")
    page = cli("export", "--format", "html", "--data", folder).stdout
    assert "Context window at release (tokens)" in page and "Training tokens" in page
    assert 'id="chart-title-2"' in page and 'id="chart-title-3"' in page  # one id per chart
    assert "Training compute (FLOP)" not in page  # no entry states compute: no empty chart
    table = page[page.index('<table class="trends">'):page.index("</table>")]
    assert "<td>context</td><td>5</td><td>0</td><td>2.00x</td>" in table
    assert "Context windows doubled about every 12 months between 2018 and 2022" in page
