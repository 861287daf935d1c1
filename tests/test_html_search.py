"""The HTML page's search box matches at the start of words (issue 17 §2): run its own script in node
against a two-card page, no browser needed."""

import json
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs node")

HARNESS = r"""
var index = %s;
var cards = index.map(function (item) { return {id: item.id, hidden: false, getAttribute: function () { return item.id; },
                                                classList: {toggle: function () {}}}; });
var input = {value: %s, addEventListener: function (kind, fn) { this.fn = fn; }};
var stub = {textContent: "", addEventListener: function () {}, classList: {toggle: function () {}}};
global.document = {
  getElementById: function (id) { return id === "search-index" ? {textContent: JSON.stringify(index)} : id === "q" ? input : stub; },
  querySelectorAll: function (sel) { return sel === "article.card" ? cards : []; },
  addEventListener: function () {},
};
global.window = {location: {hash: ""}, addEventListener: function () {}};
global.history = {replaceState: function () {}};
%s
if (input.fn) { input.fn(); }
console.log(JSON.stringify(cards.filter(function (c) { return !c.hidden; }).map(function (c) { return c.id; })));
"""


def shown(query: str) -> list[str]:
    from evollm.export.html_assets import JS

    index = [{"id": "rope", "text": "rope rotary position embedding"},
             {"id": "other", "text": "properties of gpt-3.5 models"}]
    script = HARNESS % (json.dumps(index), json.dumps(query), JS)
    done = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_rope_does_not_match_properties():
    assert shown("rope") == ["rope"]


def test_a_word_start_still_matches_and_punctuation_is_ignored():
    assert shown("prop") == ["other"]
    assert shown("gpt35") == ["other"]
    assert shown("rot emb") == ["rope"]
