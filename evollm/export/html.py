"""One self-contained HTML page: the parameter chart, a card per entry year by year, the family
trees, and a search box that filters the cards as you type.

The page loads nothing: its style sheet and script are inline, and a Content-Security-Policy
forbids the browser any request (links to papers are plain <a href>). Every text from the data is
escaped, in HTML text and attributes with `html.escape` and in the embedded JSON with \\u escapes,
so no `<` of the data reaches the page raw.
"""

from __future__ import annotations

import json
import math
from html import escape

from evollm import __version__, graph
from evollm.export.charts import param_points
from evollm.export.html_assets import CSS, JS
from evollm.export.markdown import first_sentence
from evollm.export.svg import params_svg
from evollm.render import measure_text, params_text
from evollm.vocab import MEASURES

_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SEARCH_ICON = ('<svg width="15" height="15" viewBox="0 0 16 16" aria-hidden="true"><circle cx="7" cy="7" r="5" '
                'fill="none" stroke="currentColor" stroke-width="1.8"/><path d="M11 11l3.5 3.5" stroke="currentColor" '
                'stroke-width="1.8" stroke-linecap="round"/></svg>')


def text(value: object) -> str:
    """Text from the data, safe in HTML text and in a quoted attribute."""
    return escape(str(value), quote=True)


def json_for_script(data: object) -> str:
    """JSON that cannot end its <script> block or open a comment: <, >, & and line separators escaped."""
    dumped = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for char in ("<", ">", "&", "\u2028", "\u2029"):
        dumped = dumped.replace(char, f"\\u{ord(char):04x}")
    return dumped


def _href(url: str | None) -> str | None:
    """Only web links become links (the schema requires them; this keeps javascript: out regardless)."""
    return text(url) if url and url.lower().startswith(("https://", "http://")) else None


def anchor(entry_id: str) -> str:
    return "e-" + entry_id


def _date(date: str) -> str:
    day = f" {int(date[8:10])}" if len(date) >= 10 else ""
    return f"{_MONTHS[int(date[5:7]) - 1]}{day} {date[:4]}"


def search_text(entry) -> str:
    """What the search box looks in, lower-cased: names, title, labs, authors, kind, topics, the write-up."""
    parts = [entry.name, entry.id, *entry.aliases, entry.title, *entry.labs, *entry.authors, entry.kind,
             entry.architecture or "", entry.family or "", *entry.topics, entry.date, entry.problem, entry.solution,
             *entry.key_ideas]
    return " ".join(" ".join(parts).split()).casefold()


def _link_to(entry, shown: set[str]) -> str:
    name = text(entry.name)
    return f'<a href="#{text(anchor(entry.id))}">{name}</a>' if entry.id in shown else name


def card(entry, kb, shown: set[str]) -> str:
    """One entry as an <article>; links to parents and children that are on the page."""
    out = [f'<article class="card k-{text(entry.kind)}" id="{text(anchor(entry.id))}" data-id="{text(entry.id)}">',
           '<div class="meta">', f'<time datetime="{text(entry.date)}">{text(_date(entry.date))}</time>',
           f'<span class="tag kind">{text(entry.kind)}</span>']
    if entry.architecture and entry.architecture != "none":
        out.append(f'<span class="tag">{text(entry.architecture)}</span>')
    if entry.status == "draft":
        out.append('<span class="tag">draft</span>')
    out.append("</div>")
    out.append(f'<h4><a href="#{text(anchor(entry.id))}">{text(entry.name)}</a></h4>')
    paper = _href(entry.links.get("paper") or (f"https://arxiv.org/abs/{entry.arxiv}" if entry.arxiv else None))
    title = f'<a href="{paper}">{text(entry.title)}</a>' if paper else text(entry.title)
    out.append(f'<p class="title">{title}</p>')
    out.append(f'<p class="labs">{text(", ".join(entry.labs))}</p>')
    lead = first_sentence(entry.solution)
    if lead:
        out.append(f'<p class="lead">{text(lead)}</p>')
    more = []
    if entry.problem:
        more.append(f'<p class="ps"><b>Problem.</b> {text(entry.problem)}</p>')
    if entry.solution:
        more.append(f'<p class="ps"><b>Solution.</b> {text(entry.solution)}</p>')
    if entry.key_ideas:
        more.append('<p class="ps"><b>Key ideas.</b></p><ul>' + "".join(f"<li>{text(i)}</li>" for i in entry.key_ideas)
                    + "</ul>")
    if more:
        what = ", ".join(w for w, has in (("problem", entry.problem), ("solution", entry.solution),
                                            ("key ideas", entry.key_ideas)) if has)
        out.append(f"<details><summary>{what.capitalize()}</summary>{''.join(more)}</details>")
    facts = [("Parameters", text(params_text(entry.params)) if entry.params else ""),
             *[(label, text(measure_text(getattr(entry, name), unit))) for name, (label, unit) in MEASURES.items()],
             ("Family", text(entry.family or "")),
             ("Parents", ", ".join(f'<span class="rel">{text(p.relation)}</span> '
                                   f'{_link_to(kb.entries[p.id], shown) if p.id in kb.entries else text(p.id)}'
                                   for p in entry.lineage)),
             ("Children", ", ".join(_link_to(kb.entries[c], shown) for c, _ in kb.children(entry.id))),
             ("Topics", text(", ".join(entry.topics))),
             ("License", text(entry.license or ""))]
    rows = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in facts if value)
    if rows:
        out.append(f'<dl class="facts">{rows}</dl>')
    links = [(kind.replace("_", " "), _href(url)) for kind, url in entry.links.items()]
    if entry.arxiv and "paper" not in entry.links:
        links.insert(0, ("arXiv", _href(f"https://arxiv.org/abs/{entry.arxiv}")))
    if any(url for _, url in links):
        out.append('<p class="links">' + "".join(f'<a href="{url}">{text(kind)}</a>' for kind, url in links if url)
                   + "</p>")
    out.append("</article>")
    return "\n".join(out)


def _tree_items(node: graph.TreeNode, kb, shown: set[str]) -> str:
    entry = kb.entries[node.id]
    label = (f'<span class="rel">{text(node.relation)}</span> ' if node.relation else "") + _link_to(entry, shown)
    label += f"<time>{text(entry.date[:4])}</time>"
    if node.repeat:
        label += ' <span class="again">(also above)</span>'
    if not node.children:
        return f"<li>{label}</li>"
    return f"<li>{label}<ul>" + "".join(_tree_items(child, kb, shown) for child in node.children) + "</ul></li>"


def family_trees(entries, kb) -> str:
    """A box per family with members among `entries`, its lineage drawn as nested lists."""
    from evollm.kb import KnowledgeBase

    shown = {e.id for e in entries}
    # The trees of the exported entries only: a knowledge base of just them.
    sub = KnowledgeBase({e.id: e for e in entries}, {})
    boxes = []
    for family, members in sorted(sub.families().items(), key=lambda item: (kb.entries[item[1][0]].date, item[0])):
        forest = graph.family_forest(sub, family)
        items = "".join(_tree_items(root, sub, shown) for root in forest)
        boxes.append(f'<div class="family"><h3>{text(family)} <span class="n">{len(members)}</span></h3>'
                     f'<ul class="tree">{items}</ul></div>')
    return "\n".join(boxes)


def to_html(entries, kb, *, title: str = "How large language models evolved") -> str:
    from evollm.query import load_eras

    entries = list(entries)
    shown = {e.id for e in entries}
    eras = load_eras()
    by_year: dict[int, list] = {}
    for entry in entries:
        by_year.setdefault(entry.year, []).append(entry)
    span = (f"{min(by_year)}–{max(by_year)}" if len(by_year) > 1 else f"{next(iter(by_year))}") if by_year else ""
    summary = f"{len(entries)} papers and models" + (f", {span}" if span else "")

    jumps = "".join(f'<a href="#y{year}" data-year="{year}">{year}</a>' for year in by_year)
    jumps += '<span class="sep"></span><a href="#sizes">Sizes</a><a href="#trees">Family trees</a>'
    years = []
    for year, items in by_year.items():
        era = eras.get(year, {}).get("title")
        heading = (f'<h3>{year}' + (f' <span class="era">{text(era)}</span>' if era else "")
                   + f'<span class="n">{len(items)} entr{"y" if len(items) == 1 else "ies"}</span></h3>')
        cards = "\n".join(card(entry, kb, shown) for entry in items)
        years.append(f'<section class="year" id="y{year}">\n{heading}\n<div class="cards">\n{cards}\n</div>\n</section>')
    chart = params_svg(param_points(entries))
    more_charts = _number_charts(entries)
    growth = _trends_table(entries)
    trees = family_trees(entries, kb)
    index = [{"id": e.id, "text": search_text(e)} for e in entries]

    parts = [
        "<!doctype html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="evollm {text(__version__)}">',
        f"<title>{text(title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        '<header class="top">',
        '<div class="wrap bar">',
        f'<div class="brand"><h1>{text(title)}</h1><p class="sub">{text(summary)}</p></div>',
        f'<div class="search"><label class="visually-hidden" for="q">Filter the entries</label>{_SEARCH_ICON}'
        '<input id="q" type="search" placeholder="Filter by name, lab, topic, idea…   ( / )" autocomplete="off" '
        'spellcheck="false"><p id="count" class="count" aria-live="polite"></p></div>',
        "</div>",
        f'<nav class="years wrap" aria-label="Years">{jumps}</nav>',
        "</header>",
        '<main class="wrap">',
    ]
    if chart:
        parts += ['<h2 id="sizes">Parameters over time</h2>', '<section class="panel"><figure>', chart,
                  "<figcaption>Each mark is a released model size (log scale); hover a mark for its name and size. "
                  "Names are shown where they fit.</figcaption>", "</figure></section>"]
    for svg, caption in more_charts:
        parts += ['<section class="panel"><figure>', svg, f"<figcaption>{text(caption)}</figcaption>", "</figure></section>"]
    if growth:
        parts += ['<h2 id="trends">Growth of the numbers</h2>', '<section class="panel">', growth, "</section>"]
    parts += ['<h2 id="timeline">Timeline</h2>', *years]
    if trees:
        parts += ['<h2 id="trees">Family trees</h2>', f'<div class="trees">\n{trees}\n</div>']
    parts += [
        "</main>",
        f'<footer class="wrap">{text(summary)}. Made by evollm {text(__version__)}; this page needs no network.</footer>',
        f'<script type="application/json" id="search-index">{json_for_script(index)}</script>',
        f"<script>{JS}</script>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


_NUMBER_CHARTS = (
    ("context", "Context window at release (tokens)", "Each mark is an entry's stated context window (log scale)."),
    ("training_tokens", "Training tokens", "Each mark is a stated number of training tokens (log scale)."),
    ("training_compute", "Training compute (FLOP)", "Each mark is a training compute figure (log scale); "
                                                    "some are estimates, marked est. on the cards."),
)


def _number_charts(entries) -> list[tuple[str, str]]:
    """(svg, caption) for each number that some entry states."""
    from evollm.export.charts import measure_points

    out = []
    for n, (field, title, caption) in enumerate(_NUMBER_CHARTS):
        points = measure_points(entries, field)
        if points:
            tick = (lambda v: f"1e{round(math.log10(v))}") if field == "training_compute" else None
            svg = params_svg(points, title=title, chart_id=f"chart-title-{n + 2}",
                             **({"tick": tick} if tick else {}))
            out.append((svg, caption))
    return out


def _trends_table(entries) -> str:
    """The `evollm trends` table as HTML (every cell escaped)."""
    from evollm.render.trends import HEADER, cells
    from evollm.trends import trends

    view = trends(entries)
    if not any(row.counted for row in view.rows):
        return ""
    head = "".join(f"<th>{text(h)}</th>" for h in HEADER)
    body = "".join("<tr>" + "".join(f"<td>{text(c)}</td>" for c in cells(row)) + "</tr>" for row in view.rows)
    notes = "".join(f"<p>{text(row.sentence())}</p>" for row in view.rows)
    return f'<table class="trends"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{notes}'
