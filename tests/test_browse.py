"""`evollm browse`, driven headless by Textual's Pilot on the mini knowledge base.

Each test runs the app in `asyncio.run` (no async plugin needed) and checks what a user would see:
the list's rows, the entry whose card is shown, the card's text, the screens that open.
"""

import asyncio
import json
import shutil
import threading
import time

import pytest

from conftest import MINI

textual = pytest.importorskip("textual")

from textual.widgets import Input, OptionList, ProgressBar, Select, Static, Tree  # noqa: E402

from evollm import query  # noqa: E402
from evollm.browse.app import BrowseApp, open_in_browser  # noqa: E402
from evollm.browse.model import Browser, Filters, History  # noqa: E402
from evollm.browse.app import TooSmallScreen  # noqa: E402
from evollm.browse.screens import ChooserScreen, DemoScreen, FiltersScreen, HelpScreen, TreeScreen  # noqa: E402
from evollm.kb import load_knowledge_base  # noqa: E402

SIZE = (100, 30)
DATE_ORDER = ["attn", "rotary", "dec", "enc", "dec-2", "enc-2", "loner", "hybrid"]


class App(BrowseApp):
    """The app, with every notification kept for the test to read."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.notes: list[str] = []

    def notify(self, message, **kwargs):
        self.notes.append(str(message))
        super().notify(message, **kwargs)


@pytest.fixture
def kb():
    return load_knowledge_base(MINI)


def drive(app, scenario, size=SIZE):
    """Run `scenario(pilot)` against `app` headless; a crash inside the app fails the test."""

    async def main():
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await scenario(pilot)

    asyncio.run(main())


def listed(app) -> list[str]:
    """The ids of the entries the list holds, in its order."""
    return [row.id for row in app.timeline.rows.rows if hasattr(row, "id")]


def card_text(app) -> str:
    return app.card.plain()


def screen_lines(app) -> list[str]:
    """What the list draws, line by line (its line API, as the screen gets it)."""
    return [app.timeline.render_line(y).text.rstrip() for y in range(app.timeline.size.height)]


async def searched(pilot, app, text):
    """Wait until the search for `text` (run on a thread) has reached the list."""
    await until(pilot, lambda: app.browser.search == text)
    await pilot.pause()


async def until(pilot, condition, seconds=20.0):
    """Let the app run until `condition()` holds (a demo on its thread, a worker)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.05)


# --- open, move, enter ------------------------------------------------------------------------


def test_opens_on_the_given_entry_with_its_card_and_every_entry_listed(kb):
    app = App(kb, focus="dec")

    async def scenario(pilot):
        assert app.current == "dec" and app.timeline.entry_id == "dec"
        assert listed(app) == DATE_ORDER
        assert card_text(app).startswith("Dec-1  dec\n")
        lines = screen_lines(app)
        assert lines[0].startswith("2017  ") and "(1)" in lines[0]  # a year heading with its count
        assert any(line.startswith("2018-06    Dec-1") for line in lines)
        assert app.focused is app.timeline

    drive(app, scenario)


def test_without_an_id_the_first_entry_is_focused(kb):
    app = App(kb)

    async def scenario(pilot):
        assert app.current == "attn"

    drive(app, scenario)


def test_arrows_and_j_k_move_over_entries_skipping_year_headings(kb):
    app = App(kb, focus="attn")

    async def scenario(pilot):
        seen = []
        for key in ("down", "j", "j", "down"):
            await pilot.press(key)
            seen.append(app.current)
        assert seen == DATE_ORDER[1:5]
        assert card_text(app).startswith("Dec-2  dec-2\n")  # the card follows the cursor
        await pilot.press("up", "k")
        assert app.current == "dec"
        await pilot.press("end")
        assert app.current == "hybrid"
        await pilot.press("down")  # already on the last entry: stays
        assert app.current == "hybrid"
        await pilot.press("home")
        assert app.current == "attn"
        assert app.history.visited == []  # moving the cursor is not a visit

    drive(app, scenario)


def test_enter_opens_the_card_and_puts_the_keys_on_its_links(kb):
    app = App(kb, focus="attn")

    async def scenario(pilot):
        await pilot.press("j", "j", "enter")  # Dec-1
        assert app.current == "dec"
        assert card_text(app) == app.browser.card("dec", app.card.drawn_width).plain()
        assert "Parents" in card_text(app) and "builds-on  Attn (attn, 2017-06)" in card_text(app)
        assert app.focused is app.link_list
        await pilot.press("down", "enter")  # the links: Attn (parent), then Dec-2 (child)
        assert app.current == "dec-2"
        assert app.timeline.entry_id == "dec-2"  # the list's cursor follows a jump
        assert app.history.visited == ["dec"]

    drive(app, scenario)


def test_the_card_is_the_show_command_card(kb, cli):
    """One renderer: the browser's card at a width is `evollm show` at that width, for each entry."""
    browser = Browser(kb)
    for entry_id in DATE_ORDER:
        shown = cli("show", entry_id, "--data", MINI)  # COLUMNS=100 (conftest)
        assert shown.exit_code == 0, shown.output
        assert browser.card(entry_id, 100).plain() + "\n" == shown.stdout


# --- search -------------------------------------------------------------------------------------


def test_search_narrows_as_you_type_with_the_search_commands_ranking_and_clearing_restores(kb, cli):
    app = App(kb, focus="loner")

    async def scenario(pilot):
        await pilot.press("slash")
        assert app.focused is app.search
        await pilot.press("e", "n")
        await searched(pilot, app, "en")
        ranked = [d["id"] for d in json.loads(cli("search", "en", "--json", "--data", MINI).stdout)]
        assert listed(app) == ranked and ranked
        await pilot.press("c", "o", "d")  # "encod"
        await searched(pilot, app, "encod")
        ranked = [d["id"] for d in json.loads(cli("search", "encod", "--json", "--data", MINI).stdout)]
        assert listed(app) == ranked and sorted(ranked) == ["enc", "enc-2", "hybrid"]
        assert app.current == ranked[0]  # the card shows the best match
        assert "3 matches for 'encod'" in app.status.content.plain
        await pilot.press("z", "z")
        await searched(pilot, app, "encodzz")
        assert listed(app) == [] and screen_lines(app)[0] == "No entry matches."
        await pilot.press("escape")  # clears the search and returns to the list
        await searched(pilot, app, "")
        assert app.search.value == "" and listed(app) == DATE_ORDER
        assert app.focused is app.timeline
        assert app.timeline.entry_id == app.current == ranked[0]

    drive(app, scenario)


def test_a_slow_search_holds_no_key_and_only_the_latest_text_counts(kb, monkeypatch):
    app = App(kb, focus="attn")
    real = app.browser.select

    def select(**kwargs):  # "enc" takes half a second, as a one-letter word does on 10,000 entries
        if kwargs.get("search") == "enc":
            time.sleep(0.5)
        return real(**kwargs)

    async def scenario(pilot):
        monkeypatch.setattr(app.browser, "select", select)
        app.search.value = "enc"
        await pilot.pause(0.15)  # the search is running
        app.timeline.focus()
        await pilot.press("j")
        assert app.current == "rotary"  # the keys were not held
        app.search.value = "dec"
        await searched(pilot, app, "dec")
        await pilot.pause(0.6)  # the slower "enc" ends after and is dropped
        assert app.browser.search == "dec" and "dec-2" in listed(app) and "enc" not in listed(app)

    drive(app, scenario)


def test_a_search_text_beyond_the_search_commands_limits_says_so():
    browser = Browser(load_knowledge_base(MINI))
    rows = browser.apply(search=" ".join(f"w{i}" for i in range(query.MAX_QUERY_WORDS + 1)))
    assert rows.rows == [] and rows.summary == f"search text of 21 different words; at most {query.MAX_QUERY_WORDS}"
    assert len(browser.apply(search=" ... ").rows) == len(DATE_ORDER) + 4  # no word: the whole timeline


def test_a_search_still_running_when_filters_change_is_redone_with_them(kb, monkeypatch):
    app = App(kb, focus="attn")
    real = app.browser.select

    def select(**kwargs):
        if kwargs.get("search") == "enc":
            time.sleep(0.3)
        return real(**kwargs)

    async def scenario(pilot):
        monkeypatch.setattr(app.browser, "select", select)
        app.search.value = "enc"
        await pilot.pause(0.1)
        app._filtered(Filters(family="Enc", topic="pretraining"))
        await searched(pilot, app, "enc")
        await until(pilot, lambda: listed(app) == ["enc"])
        assert app.browser.filters.topic == "pretraining"

    drive(app, scenario)


def test_search_finds_authors_and_arxiv_ids(kb, tmp_path):
    folder = tmp_path / "kb"
    shutil.copytree(MINI, folder)
    with open(folder / "loner.yaml", "a", encoding="utf-8") as f:
        f.write("authors: [Grace Hopper]\n")
    app = App(load_knowledge_base(folder), focus="enc")

    async def scenario(pilot):
        app.search.value = "hopper"
        await searched(pilot, app, "hopper")
        assert listed(app) == ["loner"]
        app.search.value = "1706.03762"
        await searched(pilot, app, "1706.03762")
        assert listed(app) == ["attn"]
        await pilot.press("slash", "enter")  # enter in the search box: back to the list
        assert app.focused is app.timeline

    drive(app, scenario)


# --- lineage: parents, children, adopters, back ----------------------------------------------


def test_p_with_one_parent_jumps_and_with_two_offers_a_chooser(kb):
    app = App(kb, focus="enc-2")

    async def scenario(pilot):
        await pilot.press("p")
        assert app.current == "enc"
        await pilot.press("p")
        assert app.current == "attn"
        await pilot.press("p")
        assert app.current == "attn" and app.notes[-1] == "Attn has no parents"
        app.jump("hybrid")
        await pilot.pause()
        await pilot.press("p")
        assert isinstance(app.screen, ChooserScreen)
        options = app.screen.query_one(OptionList)
        assert [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)] == [
            "combines Enc-2 (2019-07)", "combines Dec-2 (2019-02)"]
        await pilot.press("down", "enter")
        assert app.current == "dec-2" and not isinstance(app.screen, ChooserScreen)

    drive(app, scenario)


def test_c_jumps_to_a_child_or_chooses_among_several_and_escape_cancels(kb):
    app = App(kb, focus="dec")

    async def scenario(pilot):
        await pilot.press("c")
        assert app.current == "dec-2"
        app.jump("attn")
        await pilot.pause()
        await pilot.press("c")
        assert isinstance(app.screen, ChooserScreen)
        await pilot.press("escape")
        assert app.current == "attn" and app.screen is app.main_screen
        await pilot.press("c", "enter")
        assert app.current == "rotary"
        app.jump("loner")
        await pilot.pause()
        await pilot.press("c")
        assert app.notes[-1] == "Loner has no children"

    drive(app, scenario)


def test_u_lists_what_uses_a_technique_first_adopter_marked(kb):
    app = App(kb, focus="rotary")

    async def scenario(pilot):
        await pilot.press("u")
        assert isinstance(app.screen, ChooserScreen)
        options = app.screen.query_one(OptionList)
        prompts = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert prompts[0].startswith("2019-02     Dec-2") and prompts[0].endswith("first adopter")
        assert "Hybrid" in prompts[1] and "first adopter" not in prompts[1]
        await pilot.press("down", "enter")
        assert app.current == "hybrid"
        await pilot.press("u")
        assert app.notes[-1] == "No entry lists hybrid in its uses."

    drive(app, scenario)


def test_back_returns_through_the_visited_entries(kb):
    app = App(kb, focus="hybrid")

    async def scenario(pilot):
        await pilot.press("p", "enter")  # hybrid -> enc-2 (the first parent in the chooser)
        await pilot.press("p", "p")  # enc-2 -> enc -> attn
        assert app.current == "attn"
        await pilot.press("b")
        assert app.current == "enc"
        await pilot.press("backspace")
        assert app.current == "enc-2" and app.timeline.entry_id == "enc-2"
        await pilot.press("b")
        assert app.current == "hybrid"
        await pilot.press("b")
        assert app.current == "hybrid" and app.notes[-1] == "no earlier entry to go back to"

    drive(app, scenario)


def test_a_link_clicked_with_the_mouse_jumps_and_a_double_click_opens_a_row(kb):
    app = App(kb, focus="attn")

    async def scenario(pilot):
        row = next(i for i, r in enumerate(app.timeline.rows.rows) if getattr(r, "id", None) == "enc")
        await pilot.click(app.timeline, offset=(5, row))
        assert app.current == "enc" and app.focused is app.timeline
        await pilot.click(app.timeline, offset=(5, row), times=2)
        assert app.focused is app.link_list
        # below the list's top border: "Parents", "builds-on Attn", "Children", "improves Enc-2"
        await pilot.click(app.link_list, offset=(4, 4))
        assert app.current == "enc-2"

    drive(app, scenario)


# --- filters ----------------------------------------------------------------------------------


def test_filters_narrow_the_timeline_and_clear(kb):
    app = App(kb, focus="attn")

    async def scenario(pilot):
        await pilot.press("f")
        assert isinstance(app.screen, FiltersScreen)
        screen = app.screen
        assert [v for _, v in screen.query_one("#filter-kind", Select)._options if v is not Select.NULL] == [
            "model", "method", "architecture", "benchmark"]
        screen.query_one("#filter-kind", Select).value = "model"
        screen.query_one("#filter-lab", Input).value = "lab one"
        await pilot.click("#apply")
        assert listed(app) == ["dec", "dec-2", "hybrid"]
        assert app.current == "dec"  # attn was filtered out: the cursor's entry is shown
        assert app.status.content.plain.startswith("3 of 8 entries · kind: model · lab: lab one")
        await pilot.press("f")
        app.screen.query_one("#filter-family", Select).value = "Enc"
        app.screen.query_one("#filter-lab", Input).value = ""
        await pilot.click("#apply")
        assert listed(app) == ["enc", "enc-2", "hybrid"]
        await pilot.press("f")
        await pilot.press("escape")  # cancel: nothing changes
        assert listed(app) == ["enc", "enc-2", "hybrid"]
        await pilot.press("f")
        await pilot.click("#clear")
        assert listed(app) == DATE_ORDER

    drive(app, scenario)


def test_filters_and_search_combine(kb):
    browser = Browser(kb)
    browser.apply(filters=Filters(family="Enc"), search="encoder")
    assert [e.id for e in browser.rows.rows] == [e.id for _, e in query.search(kb, "encoder") if e.family == "Enc"]
    assert len(browser.rows.rows) == 3
    browser.apply(filters=Filters(topic="pretraining"))
    assert [e.id for e in browser.rows.rows] == ["enc"]
    assert browser.rows.summary == "1 match for 'encoder', best first"


def test_a_jump_to_an_entry_hidden_by_the_filters_says_so(kb):
    app = App(kb, focus="dec-2")

    async def scenario(pilot):
        app._filtered(Filters(kind="model"))
        await pilot.pause()
        await pilot.press("p", "p")  # dec-2 -> dec -> attn (an architecture: not listed)
        assert app.current == "attn" and app.timeline.entry_id == "dec"
        assert app.notes[-1] == "Attn is not in the list as filtered now"

    drive(app, scenario)


# --- the tree -----------------------------------------------------------------------------------


def _labels(node) -> list[str]:
    return [str(child.label) for child in node.children]


def test_t_shows_the_family_tree_expandable_with_typed_edges_and_the_second_parent_marked(kb):
    app = App(kb, focus="attn")

    async def scenario(pilot):
        await pilot.press("t")
        assert isinstance(app.screen, TreeScreen)
        tree = app.screen.query_one(Tree)
        descendants, ancestors = tree.root.children
        assert str(descendants.label) == "Descendants of Attn" and str(ancestors.label) == "Ancestors of Attn"
        (top,) = descendants.children
        assert _labels(top) == ["improves Rotary (2018-04)", "builds-on Dec-1 (2018-06)", "builds-on Enc-1 (2018-10)"]
        dec = top.children[1]
        assert not dec.is_expanded and len(dec.children) == 0  # added only when opened
        await pilot.press("e")  # open everything
        dec_2 = dec.children[0]
        assert str(dec_2.label) == "scales Dec-2 (2019-02)"
        assert _labels(dec_2) == ["combines Hybrid (2020-10)"]
        enc_2 = top.children[2].children[0]
        assert _labels(enc_2) == ["combines Hybrid (2020-10)  ↑ also under another parent"]
        # choose Enc-2 in the tree: the app goes there
        tree.move_cursor(enc_2)
        await pilot.press("enter")
        assert app.current == "enc-2" and app.screen is app.main_screen
        assert app.history.visited == ["attn"]

    drive(app, scenario)


def test_the_tree_of_a_family_member_has_the_family_and_space_expands_one_branch(kb):
    app = App(kb, focus="enc-2")

    async def scenario(pilot):
        await pilot.press("t")
        tree = app.screen.query_one(Tree)
        assert _labels(tree.root) == ["Descendants of Enc-2", "Ancestors of Enc-2", "The Enc family"]
        ancestors = tree.root.children[1].children[0]
        assert _labels(ancestors) == ["improves Enc-1 (2018-10)"]
        enc = ancestors.children[0]
        tree.move_cursor(enc)
        await pilot.press("space")
        assert _labels(enc) == ["builds-on Attn (2017-06)"]
        await pilot.press("escape")
        assert app.screen is app.main_screen and app.current == "enc-2"

    drive(app, scenario)


# --- demos ------------------------------------------------------------------------------------


def test_d_runs_the_quick_demo_to_its_checks(kb):
    app = App(kb, focus="attn")

    async def scenario(pilot):
        await pilot.press("d")
        assert isinstance(app.screen, DemoScreen)
        screen = app.screen
        await until(pilot, lambda: not screen.running)
        result = screen.query_one("#demo-result", Static).content
        from rich.console import Console

        console = Console(width=100, color_system=None, record=True, file=open("/dev/null", "w"))
        console.print(result)
        text = console.export_text()
        assert "Checks" in text and "every check passed" in text
        assert screen.query_one(ProgressBar).progress == 1.0
        await pilot.press("escape")
        assert app.screen is app.main_screen

    drive(app, scenario)


def test_d_on_an_entry_without_a_demo_says_which_have_one(kb):
    app = App(kb, focus="enc")

    async def scenario(pilot):
        await pilot.press("d")
        assert app.screen is app.main_screen
        assert app.notes[-1] == "enc has no demo; entries with one: attn (transformer)"

    drive(app, scenario)


def reporting_demo(stop: threading.Event):
    """A stand-in demo that reports progress every 10 ms until stopped (by cancel or the test)."""

    def run_demo(name, *, quick, progress):
        for i in range(2000):
            if stop.is_set():
                break
            progress(i / 2000)
            time.sleep(0.01)
        return "the result", None, 0.0

    return run_demo


def test_escape_cancels_a_running_demo_at_its_next_progress_report_and_the_ui_stays_responsive(kb):
    stop = threading.Event()
    app = App(kb, focus="attn", run_demo=reporting_demo(stop))

    async def scenario(pilot):
        await pilot.press("d")
        screen = app.screen
        await until(pilot, lambda: screen.reports > 3)
        bar = screen.query_one(ProgressBar)
        await until(pilot, lambda: (bar.progress or 0) > 0)  # the bar moves while the demo runs
        first = bar.progress
        await until(pilot, lambda: bar.progress > first)
        await pilot.press("escape")
        assert app.screen is app.main_screen
        assert app.notes[-1].startswith("Cancelled transformer: it stops at its next progress report")
        thread = app.demo_tracker["thread"]
        thread.join(5)
        assert not thread.is_alive()  # stopped by its progress callback, long before its 20 s
        await pilot.press("j")  # and the app carries on
        assert app.current == "rotary"

    try:
        drive(app, scenario)
    finally:
        stop.set()


def test_cancel_reaches_a_demo_that_catches_every_exception(kb):
    stop = threading.Event()

    def stubborn_demo(name, *, quick, progress):
        for i in range(2000):
            if stop.is_set():
                break
            try:
                progress(i / 2000)
            except Exception:  # a demo swallowing errors must not swallow the cancel
                pass
            time.sleep(0.01)
        return "the result", None, 0.0

    app = App(kb, focus="attn", run_demo=stubborn_demo)

    async def scenario(pilot):
        await pilot.press("d")
        screen = app.screen
        await until(pilot, lambda: screen.reports > 3)
        await pilot.press("escape")
        thread = app.demo_tracker["thread"]
        thread.join(5)
        assert not thread.is_alive()

    try:
        drive(app, scenario)
    finally:
        stop.set()


def test_a_demo_that_cannot_be_interrupted_is_left_to_finish_and_its_result_discarded(kb):
    release = threading.Event()
    finished = threading.Event()

    def silent_demo(name, *, quick, progress):  # never reports progress
        release.wait(10)
        finished.set()
        return "the result", None, 0.0

    app = App(kb, focus="attn", run_demo=silent_demo)

    async def scenario(pilot):
        await pilot.press("d")
        await pilot.pause(0.1)
        await pilot.press("escape")
        assert app.screen is app.main_screen
        assert app.notes[-1].startswith("Stopped waiting for transformer: a demo can only be interrupted at a "
                                        "progress report")
        await pilot.press("d")  # still running: not started twice
        assert app.screen is app.main_screen and app.notes[-1].startswith("a cancelled demo is still running")
        release.set()
        await until(pilot, finished.is_set)
        app.demo_tracker["thread"].join(5)
        await pilot.pause()
        assert app.screen is app.main_screen  # the result was discarded, not shown
        await pilot.press("d")  # free again
        assert isinstance(app.screen, DemoScreen)
        await until(pilot, lambda: not app.screen.running)

    try:
        drive(app, scenario)
    finally:
        release.set()


def test_a_demo_that_fails_is_reported_on_its_screen_not_as_a_traceback(kb):
    def broken_demo(name, *, quick, progress):
        raise ValueError("shapes (3,4) and (5,6) not aligned")

    app = App(kb, focus="attn", run_demo=broken_demo)

    async def scenario(pilot):
        await pilot.press("d")
        screen = app.screen
        await until(pilot, lambda: not screen.running)
        status = screen.query_one("#demo-status", Static).content.plain
        assert status.startswith("the demo failed: ValueError: shapes (3,4) and (5,6) not aligned")
        assert "Traceback" not in status

    drive(app, scenario)


# --- paper links, BibTeX, help --------------------------------------------------------------


def test_o_opens_the_paper_or_shows_its_url_when_no_browser_can_open(kb):
    opened = []
    app = App(kb, focus="attn", url_opener=lambda url: opened.append(url) or False)

    async def scenario(pilot):
        await pilot.press("o")
        await until(pilot, lambda: app.notes)
        assert opened == ["https://arxiv.org/abs/1706.03762"]
        assert app.notes[-1] == "No browser can be opened from here. The paper: https://arxiv.org/abs/1706.03762"
        app.url_opener = lambda url: True
        await pilot.press("o")
        await until(pilot, lambda: len(app.notes) == 2)
        assert app.notes[-1] == "opened https://arxiv.org/abs/1706.03762"
        await pilot.press("j", "o")
        assert app.notes[-1] == "rotary has no paper link"

    drive(app, scenario)


def test_open_in_browser_never_claims_a_browser_it_does_not_have(monkeypatch):
    import webbrowser

    def no_browser():
        raise webbrowser.Error("could not locate runnable browser")

    monkeypatch.setattr(webbrowser, "get", no_browser)
    assert open_in_browser("https://example.org") is False

    launched = []

    class Lynx(webbrowser.GenericBrowser):  # a text browser would take over the app's terminal
        def open(self, url, new=0, autoraise=True):
            launched.append(url)
            return True

    monkeypatch.setattr(webbrowser, "get", lambda: Lynx("lynx"))
    assert open_in_browser("https://example.org") is False and launched == []

    class Firefox(webbrowser.BackgroundBrowser):
        def open(self, url, new=0, autoraise=True):
            launched.append(url)
            return True

    monkeypatch.setattr(webbrowser, "get", lambda: Firefox("firefox"))
    assert open_in_browser("https://example.org") is True and launched == ["https://example.org"]


def test_y_copies_the_bibtex_of_the_entry_and_shows_it(kb):
    from evollm.export import EXPORTERS

    app = App(kb, focus="attn")

    async def scenario(pilot):
        await pilot.press("y")
        expected = EXPORTERS["bibtex"]([kb.entries["attn"]], kb)
        assert app.clipboard == expected and "@misc{" in expected
        assert app.notes[-1].startswith(expected.rstrip())

    drive(app, scenario)


def test_help_lists_every_key_of_the_app(kb):
    app = App(kb, focus="attn")

    async def scenario(pilot):
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = {keys for keys, _ in app.screen.rows}
        for key in ("up / k", "down / j", "enter", "/", "f", "p", "c", "u", "t", "b / backspace", "d", "o", "y",
                    "?", "q", "escape"):
            assert key in keys, key
        await pilot.press("p")  # keys of the timeline do nothing while the help is up
        assert isinstance(app.screen, HelpScreen) and app.current == "attn"
        await pilot.press("escape")
        assert app.screen is app.main_screen

    drive(app, scenario)


def test_q_quits(kb):
    app = App(kb, focus="attn")

    async def scenario(pilot):
        await pilot.press("q")
        await pilot.pause()
        assert app.return_code == 0 and not app.is_running

    drive(app, scenario)


# --- the terminal: size, colour, errors ---------------------------------------------------------


def test_a_terminal_smaller_than_80x24_shows_a_message_instead(kb):
    app = App(kb, focus="attn")

    async def scenario(pilot):
        assert app.screen is app.main_screen  # 80x24 is enough
        await pilot.resize_terminal(79, 24)
        await pilot.pause()
        assert isinstance(app.screen, TooSmallScreen)
        message = app.screen.query_one(Static).content.plain
        assert "at least 80x24" in message and "this one is 79x24" in message
        await pilot.resize_terminal(100, 20)
        await pilot.pause()
        assert "this one is 100x20" in app.screen.query_one(Static).content.plain
        await pilot.press("p")  # the app's keys wait until the app is back
        assert app.current == "attn"
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert app.screen is app.main_screen

    drive(app, scenario, size=(80, 24))


def test_it_starts_on_a_small_terminal_with_the_message(kb):
    app = App(kb, focus="attn")

    async def scenario(pilot):
        assert isinstance(app.screen, TooSmallScreen)

    drive(app, scenario, size=(60, 20))


def test_no_color_is_respected(kb, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    assert App(kb).no_color
    monkeypatch.delenv("NO_COLOR")
    assert not App(kb).no_color


def test_an_error_in_a_handler_is_a_notification_and_the_app_goes_on(kb, monkeypatch):
    app = App(kb, focus="attn")

    def broken(entry_id):
        raise RuntimeError("the links are broken")

    async def scenario(pilot):
        monkeypatch.setattr(app.browser, "links", broken)
        await pilot.press("j")
        assert app.notes[-1] == "unexpected error: RuntimeError: the links are broken"
        monkeypatch.undo()
        await pilot.press("j")
        assert app.current == "dec" and app.is_running

    drive(app, scenario)


def test_an_error_that_escapes_every_handler_ends_the_app_with_one_line_not_a_traceback(kb, capsys):
    from evollm.errors import EvollmError

    class Doomed(BrowseApp):
        def on_ready(self) -> None:
            self.set_timer(0.01, self.explode)

        def explode(self) -> None:
            raise RuntimeError("boom")

    app = Doomed(kb)
    with pytest.raises(EvollmError) as caught:
        app.run_guarded(headless=True, size=SIZE)  # headless: pytest has no terminal
    assert caught.value.message == "evollm browse stopped on an unexpected error: RuntimeError: boom"
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err and "boom" not in captured.out + captured.err


def test_entry_text_is_shown_as_written_never_read_as_markup(tmp_path):
    folder = tmp_path / "kb"
    shutil.copytree(MINI, folder)
    text = (folder / "enc.yaml").read_text(encoding="utf-8")
    (folder / "enc.yaml").write_text(text.replace("name: Enc-1", "name: \"[b]Enc[/b] [/]\"")
                                     .replace("labs: [Lab Two]", "labs: [\"[red]Lab[/red]\"]"), encoding="utf-8")
    kb = load_knowledge_base(folder)
    app = App(kb, focus="enc-2")

    async def scenario(pilot):
        assert any("[b]Enc[/b] [/]" in line and "[red]Lab[/red]" in line for line in screen_lines(app))
        assert "improves [b]Enc[/b] [/] (2018-10)" in [str(o.prompt).strip() for o in app.link_list.options]
        assert "improves   [b]Enc[/b] [/] (enc, 2018-10)" in card_text(app)
        await pilot.press("t")
        tree = app.screen.query_one(Tree)
        assert str(tree.root.children[1].children[0].children[0].label) == "improves [b]Enc[/b] [/] (2018-10)"
        await pilot.press("escape", "p")
        assert app.current == "enc" and card_text(app).startswith("[b]Enc[/b] [/]  enc")
        await pilot.press("y", "u", "c")
        assert app.current == "enc-2"
        assert not any(note.startswith("unexpected error") for note in app.notes)

    drive(app, scenario, size=(160, 30))


# --- 10,000 entries: no widget per entry ------------------------------------------------------


def test_the_list_is_one_widget_whatever_the_number_of_entries(kb, tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from generate import generate

    generate(1500, tmp_path / "big")
    big = load_knowledge_base(tmp_path / "big")
    counts = {}
    for name, base in (("mini", kb), ("big", big)):
        app = App(base)

        async def scenario(pilot, name=name, app=app):
            counts[name] = len(list(app.main_screen.walk_children()))
            await pilot.press("end")
            await pilot.pause()
            last = list(base.entries.values())[-1]
            assert app.current == last.id
            assert any(last.name in line for line in screen_lines(app))  # scrolled there and drawn

        drive(app, scenario)
    assert counts["big"] <= counts["mini"] + 40  # the same widgets; only the card's links may differ


# --- the command and its imports ----------------------------------------------------------------


def test_browse_with_an_unknown_id_exits_2_with_shows_did_you_mean_before_any_screen(cli):
    shown = cli("show", "enk", "--data", MINI)
    result = cli("browse", "enk", "--data", MINI)
    assert result.exit_code == 2, result.output
    assert result.stderr == shown.stderr == "Error: no entry 'enk'; did you mean 'enc'?\n"
    assert result.stdout == ""


def test_browse_without_a_terminal_says_so_and_exits_2(cli):
    result = cli("browse", "enc", "--data", MINI)  # CliRunner: no terminal
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: evollm browse needs a terminal")


def test_history_remembers_where_jumps_left_from():
    history = History(limit=3)
    for entry_id in ("a", "b", "b", "c", "d"):
        history.leave(entry_id)
    assert history.visited == ["b", "c", "d"]  # a repeat is one visit; the oldest fall off
    assert [history.back(), history.back(), history.back(), history.back()] == ["d", "c", "b", None]


def test_an_empty_knowledge_base_opens_and_every_key_says_there_is_nothing(tmp_path):
    (tmp_path / "empty").mkdir()
    app = App(load_knowledge_base(tmp_path / "empty"))

    async def scenario(pilot):
        assert app.current is None and screen_lines(app)[0] == "No entry matches."
        for key in ("j", "enter", "p", "c", "u", "t", "d", "o", "y", "b"):
            await pilot.press(key)
        assert app.screen is app.main_screen and app.is_running
        assert "the list is empty: no entry is focused" in app.notes
        assert not any(note.startswith("unexpected error") for note in app.notes)

    drive(app, scenario)
