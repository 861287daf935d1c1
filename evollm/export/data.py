"""The entries as data: JSON and YAML (every field, read back by the schema) and CSV (one row each).

CSV is opened by spreadsheets, which run a cell starting with =, +, -, @, a tab or a carriage
return as a formula: such a cell is written with a leading apostrophe, as OWASP recommends for
CSV injection (a title "=HYPERLINK(...)" shows as text; the apostrophe is the price)."""

from __future__ import annotations

import csv
import io
import json

from evollm.vocab import LINK_KINDS, MEASURES


def _records(entries) -> list[dict]:
    """Each entry as the schema's JSON-ready dict, unset optional fields (None) left out at
    every depth: a fresh entry and one read back from the cache give the same bytes."""
    return [entry.model_dump(mode="json", exclude_none=True) for entry in entries]


def to_json(entries, kb=None) -> str:
    return json.dumps(_records(entries), indent=2, ensure_ascii=False) + "\n"


def to_yaml(entries, kb=None) -> str:
    """A YAML list of entries; each item, saved alone as NAME.yaml, is a valid entry file."""
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(_records(entries), Dumper=dumper, sort_keys=False, allow_unicode=True, width=100)


# CSV: one column per field; lists joined with "; ", links split into one column per kind.
_LIST_SEP = "; "
CSV_COLUMNS = (
    "id", "name", "title", "date", "date_note", "kind", "architecture", "family", "labs", "authors",
    "aliases", "arxiv", *LINK_KINDS, "topics", "params", "largest_params", *MEASURES, "lineage", "uses",
    "pretraining", "corpus", "license", "problem", "solution", "key_ideas", "demo", "sources", "status",
)


def _params_cell(params) -> str:
    return _LIST_SEP.join(
        f"{p.label}={p.total}" + (f" ({p.active} active)" if p.active is not None else "") for p in params
    )


def _measure_cell(m) -> str:
    """'128000' or 'Scout=10000000 (est.)': the number whole, as a spreadsheet reads it."""
    value = f"{m.value:.0f}" if m.value < 1e21 else f"{m.value:.3g}"
    return (f"{m.label}=" if m.label else "") + value + (" (est.)" if m.estimated else "")


def csv_row(entry) -> dict[str, str]:
    row = {}
    for column in CSV_COLUMNS:
        if column in LINK_KINDS:
            row[column] = entry.links.get(column, "")
        elif column == "params":
            row[column] = _params_cell(entry.params)
        elif column == "largest_params":
            row[column] = str(max(p.total for p in entry.params)) if entry.params else ""
        elif column in MEASURES:
            row[column] = _LIST_SEP.join(_measure_cell(m) for m in getattr(entry, column))
        elif column == "lineage":
            row[column] = _LIST_SEP.join(f"{p.id} ({p.relation})" for p in entry.lineage)
        elif column == "key_ideas":
            row[column] = " | ".join(entry.key_ideas)
        else:
            value = getattr(entry, column)
            row[column] = _LIST_SEP.join(value) if isinstance(value, list) else ("" if value is None else str(value))
    return row


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: str) -> str:
    """`cell`, with an apostrophe first if a spreadsheet would read it as a formula."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def to_csv(entries, kb=None) -> str:
    """RFC 4180 CSV with a header row (CRLF line ends, fields quoted when needed); cells that
    would start a formula are prefixed with an apostrophe (see the module's docstring)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for entry in entries:
        writer.writerow({column: spreadsheet_safe(cell) for column, cell in csv_row(entry).items()})
    return out.getvalue()
