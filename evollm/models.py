"""The schema of one knowledge-base entry (pydantic v2, unknown keys are errors).

Rules that need only one entry live here; rules across entries (unique ids, resolvable lineage,
no cycles, parents not after children) live in `kb.py`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from evollm.demos.registry import DEMOS
from evollm.record import EntryViews
from evollm.text import CONTROL_CLASS
from evollm.vocab import ARCHITECTURES, KINDS, LINK_KINDS, MEASURES, RELATIONS, STATUSES, TOPICS

SLUG = r"^[a-z0-9][a-z0-9.-]*$"
# ASCII digits only: \d would also take ٢٠١٩ (and int() reads it).
ARXIV_ID = r"^[0-9]{4}\.[0-9]{4,5}$"
DATE = re.compile(r"^([0-9]{4})-([0-9]{2})(?:-([0-9]{2}))?$")
_UNITS = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}
_COUNT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMBT])?\s*$", re.IGNORECASE | re.ASCII)


def parse_count(value: object) -> object:
    """Turn "1.5B" / "340M" / 1500000000 into an int; leave anything else for pydantic to refuse."""
    if isinstance(value, str):
        match = _COUNT.match(value)
        if not match:
            raise ValueError(f"expected a number of parameters like 340M, 1.5B or 1T, got {value!r}")
        number, unit = match.groups()
        return int(round(float(number) * _UNITS[unit.upper()])) if unit else int(float(number))
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _date_text(value: object) -> object:
    """YAML reads an unquoted 2019-02-01 as a date: accept it as the text it was."""
    return value.isoformat() if isinstance(value, dt.date) else value


def _arxiv_text(value: object) -> object:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # 2305.10430 read as a number loses its trailing zero: refuse rather than guess.
        raise ValueError(f'write the arXiv id in quotes, e.g. arxiv: "{value}"')
    return value


# Every string type refuses control and bidi characters (evollm.text) by a pattern, checked in
# pydantic's compiled regex (a Python validator per string doubled the time to validate);
# kb.parse_entry turns a mismatch of these patterns into control_problem's message. Prose may
# hold a tab or a line break, one-line text may not. tests/test_hardening_2.py checks that every
# string field of the schema has one of these types or a pattern of its own.
PROSE = rf"^[^{CONTROL_CLASS}]*$"
ONE_LINE = rf"^[^{CONTROL_CLASS}\t\n]*$"

Count = Annotated[int, BeforeValidator(parse_count), Field(gt=0)]
Slug = Annotated[str, Field(pattern=SLUG, max_length=80)]
Text = Annotated[str, Field(max_length=4000, pattern=PROSE)]
Short = Annotated[str, Field(min_length=1, max_length=300, pattern=ONE_LINE)]
HttpUrl = Annotated[str, Field(pattern=rf"^https?://[^\s<>\"{CONTROL_CLASS}]+$", max_length=500)]


class Strict(BaseModel):
    # defer_build: the validators are built on the first validation, so a run served from the
    # cache (which never validates) does not pay ~40 ms to build them.
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, defer_build=True)


class ParamCount(Strict):
    label: Short
    total: Count
    active: Count | None = None
    source: HttpUrl | None = None

    @model_validator(mode="after")
    def _active_not_above_total(self) -> ParamCount:
        if self.active is not None and self.active > self.total:
            raise ValueError(f"active: {self.active} exceeds total ({self.total})")
        return self


def parse_amount(value: object) -> object:
    """Turn "128K" / "14.8T" / "3.8e24" / 128000 into a float; leave anything else for pydantic."""
    if isinstance(value, bool):
        raise ValueError("expected a number, got a yes/no value")
    if isinstance(value, str):
        match = _AMOUNT.match(value)
        if not match:
            raise ValueError(f"expected a number like 128K, 14.8T or 3.8e24, got {value!r}")
        number, unit = match.groups()
        return float(number) * (_UNITS[unit.upper()] if unit else 1.0)
    if isinstance(value, int):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value}")
    return value


_AMOUNT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?(?:[eE][+]?[0-9]+)?)\s*([KMBT])?\s*$", re.IGNORECASE | re.ASCII)
Amount = Annotated[float, BeforeValidator(parse_amount), Field(gt=0, allow_inf_nan=False)]


class Measure(Strict):
    """One number of the evolution (a context window, training tokens, training FLOP) and where it is stated."""

    label: Short | None = None  # the released size it applies to, when sizes differ
    value: Amount
    source: HttpUrl
    note: Text | None = None
    estimated: bool = False

    @model_validator(mode="after")
    def _estimate_explained(self) -> Measure:
        if self.estimated and not self.note:
            raise ValueError("estimated: true needs a note that says how the number was derived (e.g. 6·N·D)")
        return self


class Parent(Strict):
    id: Slug
    relation: Literal[tuple(RELATIONS)]  # type: ignore[valid-type]
    note: Text = ""


class Entry(Strict, EntryViews):
    id: Slug
    name: Short
    title: Short
    date: Annotated[str, BeforeValidator(_date_text)]
    labs: list[Short] = Field(min_length=1)
    kind: Literal[KINDS]  # type: ignore[valid-type]
    problem: Text = ""
    solution: Text = ""

    aliases: list[Short] = []
    authors: list[Short] = []
    arxiv: Annotated[str, BeforeValidator(_arxiv_text), Field(pattern=ARXIV_ID)] | None = None
    arxiv_category: Annotated[str, Field(pattern=r"^[a-z-]+(\.[A-Za-z-]+)?$")] | None = None  # primary, e.g. cs.CL
    date_note: Text | None = None
    links: dict[Literal[LINK_KINDS], HttpUrl] = {}  # type: ignore[valid-type]
    key_ideas: list[Text] = []
    topics: list[Literal[TOPICS]] = []  # type: ignore[valid-type]
    params: list[ParamCount] = []
    context: list[Measure] = []
    training_tokens: list[Measure] = []
    training_compute: list[Measure] = []
    architecture: Literal[ARCHITECTURES] | None = None  # type: ignore[valid-type]
    pretraining: Text | None = None
    corpus: Text | None = None
    license: Short | None = None
    family: Short | None = None
    lineage: list[Parent] = []
    uses: list[Slug] = []
    demo: str | None = None
    sources: list[HttpUrl] = []
    status: Literal[STATUSES] | None = None  # type: ignore[valid-type]

    @field_validator("date")
    @classmethod
    def _real_past_date(cls, value: str) -> str:
        match = DATE.match(value)
        if not match:
            raise ValueError(f"expected YYYY-MM or YYYY-MM-DD, got {value!r}")
        year, month, day = (int(g) if g else None for g in match.groups())
        if not 1 <= month <= 12:
            raise ValueError(f"month {month:02d} is not a month")
        try:
            first = dt.date(year, month, day or 1)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a calendar date ({exc})") from None
        if first > dt.date.today():
            raise ValueError(f"{value} is in the future")
        return value

    @field_validator("demo")
    @classmethod
    def _registered_demo(cls, value: str | None) -> str | None:
        if value is not None and value not in DEMOS:
            raise ValueError(f"no registered demo {value!r}; registered: {', '.join(sorted(DEMOS))}")
        return value

    @model_validator(mode="after")
    def _written_unless_draft(self) -> Entry:
        if self.status != "draft":
            for name in ("problem", "solution"):
                if not getattr(self, name):
                    raise ValueError(f"{name}: empty (only an entry with status: draft may leave it out)")
        cited = set(self.sources) | set(self.links.values())
        for name in ("params", *MEASURES):
            for i, item in enumerate(getattr(self, name)):
                if item.source is not None and item.source not in cited:
                    raise ValueError(f"{name}[{i}].source: {item.source} is in neither sources nor links; cite it there")
        if self.arxiv and DATE.match(self.date).group(3) and not self.date_note:
            raise ValueError(
                f"date: {self.date} is a release day but the paper is arXiv {self.arxiv}; "
                "say in date_note what was released that day and when arXiv followed"
            )
        if self.arxiv and self.date[:7] != arxiv_month(self.arxiv):
            if not self.date_note:
                raise ValueError(
                    f"date: {self.date} differs from the arXiv id's month {arxiv_month(self.arxiv)}; "
                    "fix it or explain the earlier release in date_note"
                )
            if self.date[:7] > arxiv_month(self.arxiv):
                raise ValueError(
                    f"date: {self.date} is after the arXiv id's month {arxiv_month(self.arxiv)}: "
                    "the date is the first public release"
                )
        return self


def arxiv_month(arxiv_id: str) -> str:
    """The month an arXiv id carries: 1706.03762 -> 2017-06."""
    return f"20{arxiv_id[:2]}-{arxiv_id[2:4]}"
