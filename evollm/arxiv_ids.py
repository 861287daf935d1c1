"""arXiv ids in the forms people paste them: 2305.18290, 2305.18290v2, arXiv:2305.18290, the abs or
pdf URL. No evollm imports but errors: the knowledge base resolves ids with it, `sources` asks arXiv."""

from __future__ import annotations

import re

from evollm.errors import UsageError

_ID = r"([0-9]{2})([0-9]{2})\.([0-9]{4,5})(?:v[0-9]+)?"  # ASCII digits: \d would take ٢٣٠٥
_ID_FORMS = (
    re.compile(rf"(?:arxiv:)?{_ID}", re.IGNORECASE),
    re.compile(rf"(?:https?://)?(?:www\.|export\.)?arxiv\.org/(?:abs|pdf)/{_ID}(?:\.pdf)?/?(?:[?#].*)?",
               re.IGNORECASE),
)


def parse_arxiv_id(text: str) -> str:
    """The bare id (2305.18290) of 2305.18290, 2305.18290v2, arXiv:2305.18290 or an abs/pdf URL."""
    raw = text.strip()
    for form in _ID_FORMS:
        match = form.fullmatch(raw)
        if match:
            year, month, number = match.groups()
            # New-style ids began in 2007-04 with four digits after the dot, five from 2015-01.
            if 1 <= int(month) <= 12 and (year, month) >= ("07", "04") and len(number) == (4 if year < "15" else 5):
                return f"{year}{month}.{number}"
            break
    raise UsageError(f"{text!r} is not an arXiv id; give one like 2305.18290, 2305.18290v2, "
                     "arXiv:2305.18290 or https://arxiv.org/abs/2305.18290")
