import pytest
from pydantic import ValidationError

from evollm.models import Entry, arxiv_month, parse_count

BASE = dict(id="x", name="X", title="T", date="2019-02", labs=["L"], kind="model", problem="p", solution="s")


def make(**changes):
    return Entry.model_validate({**BASE, **changes})


@pytest.mark.parametrize("text, number", [("340M", 340_000_000), ("1.5B", 1_500_000_000), ("1T", 10**12),
                                          ("7b", 7_000_000_000), (117_000_000, 117_000_000), ("2048", 2048)])
def test_parameter_counts_accept_units(text, number):
    assert parse_count(text) == number
    assert make(params=[{"label": "a", "total": text}]).params[0].total == number


@pytest.mark.parametrize("bad", ["lots", "1.5X", "-3M", ""])
def test_parameter_counts_refuse_nonsense(bad):
    with pytest.raises(ValidationError):
        make(params=[{"label": "a", "total": bad}])


def test_active_cannot_exceed_total():
    with pytest.raises(ValidationError, match="exceeds total"):
        make(params=[{"label": "moe", "total": "13B", "active": "47B"}])
    assert make(params=[{"label": "moe", "total": "47B", "active": "13B"}]).params[0].active == 13_000_000_000


@pytest.mark.parametrize("date", ["2019-13", "2019-00", "2019-02-30", "19-02", "2019/02", "2999-01"])
def test_bad_dates(date):
    with pytest.raises(ValidationError):
        make(date=date)


def test_unknown_field_is_an_error():
    with pytest.raises(ValidationError, match="Extra inputs"):
        make(colour="blue")


@pytest.mark.parametrize("slug", ["Bert", "../../etc/passwd", "-x", "a b", ""])
def test_id_must_be_a_slug(slug):
    with pytest.raises(ValidationError):
        make(id=slug)


def test_arxiv_month_rule():
    assert arxiv_month("1706.03762") == "2017-06"
    assert make(arxiv="1902.00001").date == "2019-02"
    with pytest.raises(ValidationError, match="differs from the arXiv id's month"):
        make(arxiv="1810.04805")
    # An earlier release explained in date_note is fine; a date after the paper is not.
    assert make(arxiv="1903.00001", date_note="weights released a month before the paper")
    with pytest.raises(ValidationError, match="is after the arXiv id's month"):
        make(arxiv="1901.00001", date_note="whatever")


def test_links_must_be_http():
    assert make(links={"paper": "https://arxiv.org/abs/1706.03762"})
    for bad in ("javascript:alert(1)", "file:///etc/passwd", "ftp://x"):
        with pytest.raises(ValidationError):
            make(links={"paper": bad})
    with pytest.raises(ValidationError):
        make(links={"homepage": "https://example.org"})


def test_demo_must_be_registered():
    assert make(demo="ppo").demo == "ppo"
    for bad in ("os.system", "evollm.demos.ppo", "rm -rf /"):
        with pytest.raises(ValidationError, match="no registered demo"):
            make(demo=bad)


def test_drafts_may_leave_problem_and_solution_empty():
    with pytest.raises(ValidationError, match="problem: empty"):
        make(problem="")
    draft = make(problem="", solution="", status="draft")
    assert draft.status == "draft"


def test_vocabularies_are_enforced():
    for field, bad in (("kind", "toy"), ("architecture", "rnn"), ("topics", ["cooking"])):
        with pytest.raises(ValidationError):
            make(**{field: bad})
    with pytest.raises(ValidationError):
        make(lineage=[{"id": "y", "relation": "likes"}])


def test_unquoted_yaml_values():
    import datetime as dt

    assert make(date=dt.date(2019, 2, 1)).date == "2019-02-01"
    with pytest.raises(ValidationError, match="in quotes"):
        make(arxiv=1902.0001)
