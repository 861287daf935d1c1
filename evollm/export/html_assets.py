"""The style sheet and the script inlined into the HTML page (no file, font or script is fetched)."""

CSS = """
:root {
  --bg: #f6f6f3; --fg: #1c2330; --muted: #5b6473; --faint: #8a919c; --card: #ffffff; --line: #e2e4e8;
  --accent: #2f6fd6; --chip: #eef1f5; --shadow: 0 1px 2px rgba(20, 30, 50, .05), 0 2px 8px rgba(20, 30, 50, .04);
  --model: #3b78d8; --method: #2e9d5b; --architecture: #8a63c9; --system: #d98b1f; --dataset: #15a0a8;
  --benchmark: #d2457f; --analysis: #7c8591;
}
@media (prefers-color-scheme: dark) {
  :root { --bg: #13161b; --fg: #e5e8ec; --muted: #a1a9b5; --faint: #79818d; --card: #1b1f26; --line: #2b313a;
          --accent: #7ea8ff; --chip: #252b34; --shadow: none; }
}
* { box-sizing: border-box; }
html { scroll-padding-top: 132px; }
body { margin: 0; background: var(--bg); color: var(--fg);
       font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       -webkit-font-smoothing: antialiased; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
[hidden] { display: none !important; }
.wrap { max-width: 1200px; margin: 0 auto; padding: 0 28px; }

header.top { position: sticky; top: 0; z-index: 5; background: var(--bg); border-bottom: 1px solid var(--line); }
.bar { display: flex; align-items: center; gap: 24px; padding-top: 16px; padding-bottom: 10px; flex-wrap: wrap; }
.brand { flex: 1 1 320px; }
h1 { font-size: 24px; line-height: 1.2; margin: 0; letter-spacing: -.01em; }
.sub { margin: 2px 0 0; color: var(--muted); font-size: 14px; }
.search { flex: 0 1 420px; position: relative; }
.search input { width: 100%; font: inherit; font-size: 15px; padding: 9px 14px 9px 36px; border-radius: 999px;
                border: 1px solid var(--line); background: var(--card); color: var(--fg); outline: none;
                box-shadow: var(--shadow); }
.search input:focus { border-color: var(--accent); box-shadow: 0 0 0 3px color-mix(in srgb, var(--accent) 22%, transparent); }
.search svg { position: absolute; left: 13px; top: 50%; transform: translateY(-50%); color: var(--faint); }
.count { margin: 4px 0 0 16px; font-size: 12.5px; color: var(--muted); min-height: 1em; }
nav.years { display: flex; gap: 6px; flex-wrap: wrap; padding-bottom: 12px; }
nav.years a { font-size: 13px; padding: 2px 10px; border-radius: 999px; background: var(--chip); color: var(--fg); }
nav.years a:hover { text-decoration: none; background: color-mix(in srgb, var(--accent) 18%, var(--chip)); }
nav.years a.empty { opacity: .35; }
nav.years .sep { flex: 1; }

main { padding-bottom: 48px; }
h2 { font-size: 20px; margin: 36px 0 14px; letter-spacing: -.01em; }
section.panel { background: var(--card); border: 1px solid var(--line); border-radius: 12px; padding: 18px 20px 8px;
                box-shadow: var(--shadow); }
.chart { width: 100%; height: auto; display: block; color: var(--fg); }
figure { margin: 0; }
figcaption { color: var(--muted); font-size: 13px; margin: 6px 0 8px; }

section.year { margin-top: 30px; }
section.year > h3 { display: flex; align-items: baseline; gap: 12px; margin: 0 0 12px; font-size: 26px;
                    letter-spacing: -.02em; border-bottom: 2px solid var(--line); padding-bottom: 6px; }
section.year > h3 .era { font-size: 15px; font-weight: 600; color: var(--accent); letter-spacing: 0; }
section.year > h3 .n { margin-left: auto; font-size: 13px; font-weight: 400; color: var(--faint); letter-spacing: 0; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 16px; align-items: start; }

article.card { background: var(--card); border: 1px solid var(--line); border-top: 3px solid var(--kind, var(--model));
               border-radius: 10px; padding: 13px 16px 12px; box-shadow: var(--shadow); font-size: 14px; }
article.card:target { outline: 2px solid var(--accent); outline-offset: 2px; }
.k-model { --kind: var(--model); } .k-method { --kind: var(--method); } .k-architecture { --kind: var(--architecture); }
.k-system { --kind: var(--system); } .k-dataset { --kind: var(--dataset); } .k-benchmark { --kind: var(--benchmark); }
.k-analysis { --kind: var(--analysis); }
.meta { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; font-size: 12px; color: var(--muted); }
.meta time { font-variant-numeric: tabular-nums; margin-right: 2px; }
.tag { padding: 0 8px; border-radius: 999px; background: var(--chip); line-height: 20px; }
.tag.kind { color: var(--kind); background: color-mix(in srgb, var(--kind) 12%, transparent); font-weight: 600; }
article.card h4 { margin: 6px 0 1px; font-size: 18px; line-height: 1.25; }
article.card h4 a { color: var(--fg); }
.title { margin: 0 0 4px; font-style: italic; line-height: 1.4; }
.labs { margin: 0 0 8px; color: var(--muted); font-size: 13px; }
.lead { margin: 0 0 6px; line-height: 1.5; }
.ps { margin: 8px 0 4px; line-height: 1.5; }
details[open] summary { margin-bottom: 2px; }
.ps b { font-weight: 650; }
details { margin: 6px 0; }
summary { cursor: pointer; color: var(--muted); font-size: 13px; }
details ul { margin: 6px 0 0; padding-left: 18px; }
details li { margin: 3px 0; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 8px 0 4px; font-size: 13px; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
.rel { color: #b0418a; font-size: 12px; }
@media (prefers-color-scheme: dark) { .rel { color: #e283c1; } }
.links { margin: 8px 0 0; display: flex; gap: 12px; flex-wrap: wrap; font-size: 13px; border-top: 1px solid var(--line);
         padding-top: 8px; }

.trees { display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap: 16px; align-items: start; }
.family { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 12px 16px 14px;
          box-shadow: var(--shadow); }
.family h3 { margin: 0 0 8px; font-size: 16px; }
.family h3 .n { font-weight: 400; color: var(--faint); font-size: 13px; }
ul.tree, ul.tree ul { list-style: none; margin: 0; padding: 0; }
ul.tree ul { margin-left: 7px; }
ul.tree li { position: relative; padding: 2px 0 2px 18px; font-size: 14px; }
ul.tree > li { padding-left: 0; }
ul.tree ul > li::before { content: ""; position: absolute; left: 0; top: 0; bottom: 0; border-left: 1.5px solid var(--line); }
ul.tree ul > li:last-child::before { bottom: auto; height: 14px; }
ul.tree ul > li::after { content: ""; position: absolute; left: 0; top: 14px; width: 12px; border-top: 1.5px solid var(--line); }
ul.tree time { color: var(--faint); font-size: 12px; margin-left: 4px; }
ul.tree .again { color: var(--faint); font-size: 12px; }

footer { color: var(--faint); font-size: 13px; padding: 18px 0 40px; border-top: 1px solid var(--line); }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
@media (max-width: 640px) { .wrap { padding: 0 14px; } .cards, .trees { grid-template-columns: 1fr; } }
@media print { header.top { position: static; } .search, nav.years { display: none; } }
"""

JS = r"""
(function () {
  "use strict";
  var index = JSON.parse(document.getElementById("search-index").textContent);
  var text = {};
  // Also without punctuation, so "gpt35" finds GPT-3.5 (spaces kept: no match across two words).
  index.forEach(function (item) { text[item.id] = [item.text, item.text.replace(/[^a-z0-9\s]/g, "")]; });
  var input = document.getElementById("q");
  var count = document.getElementById("count");
  var cards = Array.prototype.slice.call(document.querySelectorAll("article.card"));
  var years = Array.prototype.slice.call(document.querySelectorAll("section.year"));
  var jumps = Array.prototype.slice.call(document.querySelectorAll("nav.years a[data-year]"));

  // A word matches where a word of the text starts: "rope" finds RoPE, not "properties".
  function startsWord(hay, w) {
    for (var i = hay.indexOf(w); i >= 0; i = hay.indexOf(w, i + 1)) {
      if (i === 0 || !/[a-z0-9]/.test(hay.charAt(i - 1))) { return true; }
    }
    return false;
  }

  function matches(id, words) {
    var hay = text[id] || ["", ""];
    return words.every(function (w) {
      var compact = w.replace(/[^a-z0-9]/g, "");
      return startsWord(hay[0], w) || (compact.length > 0 && startsWord(hay[1], compact));
    });
  }

  function apply() {
    var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0;
    cards.forEach(function (card) {
      var ok = matches(card.getAttribute("data-id"), words);
      card.hidden = !ok;
      if (ok) { shown += 1; }
    });
    years.forEach(function (year) { year.hidden = !year.querySelector("article.card:not([hidden])"); });
    jumps.forEach(function (a) {
      var year = document.getElementById("y" + a.getAttribute("data-year"));
      a.classList.toggle("empty", !year || year.hidden);
    });
    count.textContent = words.length ? shown + " of " + cards.length + " shown" : "";
  }

  input.addEventListener("input", apply);
  document.addEventListener("keydown", function (event) {
    if (event.key === "/" && document.activeElement !== input) { event.preventDefault(); input.focus(); }
    else if (event.key === "Escape" && document.activeElement === input) { input.value = ""; apply(); }
  });
  apply();
})();
"""
