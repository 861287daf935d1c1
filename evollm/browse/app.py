"""The `evollm browse` application: the timeline on the left, the focused entry's card on the
right, and keys for lineage, trees, demos, links and citations.

What is shown comes from `model.Browser`, which asks the same queries and the same card renderer
as the CLI; this module only lays it out and routes keys. Every handler runs inside
`notify_errors`, so a failure is a notification, and `run_guarded` turns anything that still
escapes into one line on stderr instead of Textual's traceback.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual import events
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from evollm.browse.model import Browser, Filters, History
from evollm.browse.widgets import CardView, TimelineView, notify_errors
from evollm.errors import EvollmError, NotFound


def open_in_browser(url: str) -> bool:
    """Open `url` in a graphical browser; False when none can be started without taking over
    this terminal (a text browser such as lynx would draw over the app)."""
    import webbrowser

    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        return False
    graphical = isinstance(browser, webbrowser.BackgroundBrowser) or getattr(browser, "background", False)
    if isinstance(browser, webbrowser.GenericBrowser) and not graphical:
        return False
    try:
        return bool(browser.open(url))
    except Exception:  # noqa: BLE001 - any failure means: not opened
        return False


MIN_WIDTH, MIN_HEIGHT = 80, 24


class TooSmallScreen(Screen[None]):
    """Shown instead of the app while the terminal is smaller than 80x24."""

    BINDINGS = [Binding("q,ctrl+c", "app.quit", "Quit")]
    DEFAULT_CSS = """
    TooSmallScreen { align: center middle; }
    TooSmallScreen Static { width: auto; height: auto; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="too-small-message")

    def on_mount(self) -> None:
        self.describe(self.app.size.width, self.app.size.height)

    def describe(self, width: int, height: int) -> None:
        self.query_one(Static).update(Text(
            f"evollm browse needs a terminal of at least {MIN_WIDTH}x{MIN_HEIGHT};\n"
            f"this one is {width}x{height}. Enlarge it to continue, or press q to quit."))


_KEY_NAMES = {"question_mark": "?", "slash": "/", "backspace": "backspace", "escape": "escape", "enter": "enter",
              "pageup": "page up", "pagedown": "page down"}


def _keys(binding: Binding) -> str:
    return " / ".join(_KEY_NAMES.get(k.strip(), k.strip()) for k in binding.key.split(","))


class BrowseApp(App[None]):
    """`evollm browse`. `run_demo` and `url_opener` can be replaced (tests)."""

    TITLE = "evollm browse"
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    #main { height: 1fr; }
    #left { width: 50%; min-width: 38; border-right: vkey $foreground 20%; }
    #search { height: 1; margin: 0 1 0 0; }
    #status { height: 1; color: $text-muted; padding: 0 1 0 0; }
    #timeline { height: 1fr; }
    #right { width: 1fr; }
    #card-view { height: 1fr; }
    #links { height: 8; border: none; border-top: hkey $foreground 20%; }
    """

    BINDINGS = [
        Binding("slash", "search", "Search", show=False, tooltip="search as you type, ranked as evollm search (names, "
                "aliases, arXiv ids, titles, authors, text); enter goes to the list, escape clears it"),
        Binding("f", "filters", "Filter", show=False, tooltip="filter the timeline by kind, lab, family and topic"),
        Binding("p", "parent", "Parent", tooltip="jump to a parent (a chooser when there are several)"),
        Binding("c", "child", "Child", tooltip="jump to a child (a chooser when there are several)"),
        Binding("u", "uses", "Uses", tooltip="what uses this technique, oldest first, first adopter marked"),
        Binding("t", "tree", "Tree", tooltip="the family tree: descendants, ancestors and family, expandable"),
        Binding("b,backspace", "back", "Back", tooltip="back through the entries you jumped from"),
        Binding("d", "demo", "Demo", tooltip="run the entry's demo in quick mode (escape cancels)"),
        Binding("o", "open_paper", "Paper", tooltip="open the paper link in a browser (or show its URL)"),
        Binding("y", "copy_bibtex", "BibTeX", tooltip="copy the entry's BibTeX (and show it)"),
        Binding("question_mark", "help", "Help", tooltip="every key, in a window"),
        Binding("q", "quit", "Quit", tooltip="quit"),
        Binding("escape", "escape", "List", show=False, tooltip="back to the list (clears the search there)"),
    ]

    def __init__(self, kb, focus: str | None = None, *, eras: dict | None = None, run_demo=None,
                 url_opener=None) -> None:
        super().__init__()
        self.browser = Browser(kb, eras)
        self.history = History()
        first = self.browser.rows.entry_at(self.browser.rows.next_entry(0, 1) or 0)
        self.current: str | None = focus or (first.id if first is not None else None)
        self.links: list = []
        self.demo_tracker: dict = {}
        self.run_demo = run_demo
        self.url_opener = url_opener or open_in_browser
        self.crash: BaseException | None = None

    # --- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # Kept as attributes: `query_one` on the app searches only the screen on top.
        self.search = Input(placeholder="/ to search names, authors, arXiv ids, text", id="search", compact=True)
        self.status = Static(id="status")
        self.timeline = TimelineView(self.browser.rows, id="timeline")
        self.card = CardView(id="card-view")
        self.link_list = OptionList(id="links")
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield self.search
                yield self.status
                yield self.timeline
            with Vertical(id="right"):
                yield self.card
                yield self.link_list
        yield Footer(compact=True)

    @notify_errors
    def on_mount(self) -> None:
        self.main_screen = self.screen
        self.timeline.show_rows(self.browser.rows, self.current)
        self.timeline.focus()
        self._show(self.current)
        self._check_size(self.size.width, self.size.height)

    # Keys that act on the timeline and the card: not while another screen is on top.
    _MAIN_ONLY = {"search", "filters", "parent", "child", "uses", "tree", "back", "demo", "open_paper",
                  "copy_bibtex", "help", "escape"}

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action in self._MAIN_ONLY and self.screen is not getattr(self, "main_screen", self.screen):
            return False
        return True

    # --- showing an entry ---------------------------------------------------------------------

    def _show(self, entry_id: str | None, *, move_cursor: bool = False) -> None:
        """Make `entry_id` the focused entry: its card, its links, the list's cursor."""
        self.current = entry_id
        if entry_id is None:
            self.card.show(lambda width: _nothing())
            self.links = []
        else:
            self.card.show(lambda width: self.browser.card(entry_id, width))
            self.links = self.browser.links(entry_id)
        options, group = [], None
        for n, link in enumerate(self.links):
            if link.group != group:
                group = link.group
                options.append(Option(Text(group, style="bold"), disabled=True))
            options.append(Option(Text("  " + link.text, no_wrap=True, overflow="ellipsis"), id=str(n)))
        self.link_list.clear_options()
        self.link_list.add_options(options or [Option(Text("no parents, children or adopters"), disabled=True)])
        if entry_id is not None and move_cursor and not self.timeline.move_to(entry_id):
            name = self.browser.kb.entries[entry_id].name
            self.notify(f"{name} is not in the list as filtered now", markup=False)
        self._status()

    def jump(self, entry_id: str | None) -> None:
        """Go to `entry_id`, remembering where we were (for back)."""
        if entry_id is None or entry_id == self.current:
            return
        self.history.leave(self.current)
        self._show(entry_id, move_cursor=True)

    def _status(self) -> None:
        rows = self.browser.rows
        line = Text(" · ".join([rows.summary] + [f"{k}: {v}" for k, v in self.browser.filters.active()]))
        line.append("   f: filters", style="dim")
        if line != self.status.content:
            self.status.update(line, layout=False)  # one line, always: no layout to redo

    def _entry(self):
        if self.current is None:
            raise NotFound("the list is empty: no entry is focused")
        return self.browser.kb.entries[self.current]

    # --- the list and the search --------------------------------------------------------------

    @notify_errors
    def on_timeline_view_highlighted(self, message: TimelineView.Highlighted) -> None:
        if message.entry_id != self.current:
            self._show(message.entry_id)

    @notify_errors
    def on_timeline_view_opened(self, message: TimelineView.Opened) -> None:
        if message.entry_id != self.current:
            self._show(message.entry_id)
        if self.links:
            self.link_list.focus()
            self.link_list.highlighted = next(i for i, o in enumerate(self.link_list.options) if not o.disabled)
        else:
            self.card.focus()

    # Search runs on a thread: on 10,000 entries a word of one or two letters matches thousands
    # of index tokens and takes from 0.1 s to over a second; the keys must not wait for it.
    SEARCH_PAUSE = 0.05  # seconds of no typing before a search starts

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "search":
            self._search(event.value, self.browser.filters)

    @work(thread=True, exclusive=True, group="search", exit_on_error=False)
    def _search(self, text: str, filters: Filters) -> None:
        """On a thread: the rows for `text`, handed to `_searched` (a newer keystroke wins)."""
        from textual.worker import get_current_worker

        time.sleep(self.SEARCH_PAUSE if text.strip() else 0)
        if get_current_worker().is_cancelled:
            return
        try:
            rows = self.browser.select(search=text, filters=filters)
        except Exception as exc:  # noqa: BLE001 - shown, never raised on the worker
            self.notify(f"unexpected error: {type(exc).__name__}: {exc}", severity="error", markup=False)
            return
        self.call_from_thread(self._searched, text, filters, rows)

    @notify_errors
    def _searched(self, text: str, filters: Filters, rows) -> None:
        if text != self.search.value or filters != self.browser.filters:
            return  # typed on, or filtered, since: a newer search is coming
        self.browser.commit(rows, search=text)
        # While searching the cursor is on the best match; cleared, back on the focused entry.
        self.timeline.show_rows(rows, None if text.strip() else self.current)
        under = self.timeline.entry_id
        if under is not None and under != self.current:
            self._show(under)
        self._status()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "search":
            self.timeline.focus()

    @notify_errors
    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option_list.id == "links" and event.option_id is not None:
            self.jump(self.links[int(event.option_id)].entry_id)

    def action_search(self) -> None:
        self.search.focus()

    def action_escape(self) -> None:
        if self.search.has_focus and self.search.value:
            self.search.value = ""  # posts Changed: the whole list comes back
        self.timeline.focus()

    @notify_errors
    def action_filters(self) -> None:
        from evollm.browse.screens import FiltersScreen
        from evollm.vocab import KINDS, TOPICS

        kb = self.browser.kb
        present_kinds = {e.kind for e in kb}
        present_topics = {t for e in kb for t in e.topics}
        labs = sorted({lab for e in kb for lab in e.labs}, key=str.casefold)
        screen = FiltersScreen(self.browser.filters, [k for k in KINDS if k in present_kinds],
                               sorted(kb.families(), key=str.casefold), [t for t in TOPICS if t in present_topics],
                               labs)
        self.push_screen(screen, self._filtered)

    @notify_errors
    def _filtered(self, filters: Filters | None) -> None:
        if filters is None:
            return
        rows = self.browser.apply(filters=filters)
        if self.search.value != self.browser.search:  # a search still on its way: redo it filtered
            self._search(self.search.value, filters)
        self.timeline.show_rows(rows, self.current)
        under = self.timeline.entry_id
        if under is not None and under != self.current:
            self._show(under)
        self._status()

    # --- lineage --------------------------------------------------------------------------------

    def _choose(self, title: str, ids: list[str], labels: list[Text]) -> None:
        from evollm.browse.screens import ChooserScreen

        self.push_screen(ChooserScreen(title, list(zip(ids, labels))), self._chosen)

    @notify_errors
    def _chosen(self, entry_id: str | None) -> None:
        self.jump(entry_id)

    def _relatives(self, which: str) -> None:
        entry = self._entry()
        links = [link for link in self.links if link.group == which]
        if not links:
            raise NotFound(f"{entry.name} has no {which.lower()}")
        if len(links) == 1:
            self.jump(links[0].entry_id)
            return
        self._choose(f"{which} of {entry.name}", [link.entry_id for link in links],
                     [Text(link.text) for link in links])

    @notify_errors
    def action_parent(self) -> None:
        self._relatives("Parents")

    @notify_errors
    def action_child(self) -> None:
        self._relatives("Children")

    @notify_errors
    def action_uses(self) -> None:
        entry = self._entry()
        adopters = self.browser.kb.adopters(entry.id)
        if not adopters:
            raise NotFound(f"No entry lists {entry.id} in its uses.")  # as `evollm uses` says it
        labels = []
        for i, other in enumerate(adopters):
            label = Text(f"{other.date:<10}  ", style="dim")
            label.append(other.name, style="bold")
            label.append("  " + ", ".join(other.labs))
            if i == 0:
                label.append("  first adopter", style="green")
            labels.append(label)
        self._choose(f"Entries that use {entry.name}", [a.id for a in adopters], labels)

    @notify_errors
    def action_tree(self) -> None:
        from evollm import graph
        from evollm.browse.screens import TreeScreen

        kb = self.browser.kb
        entry = self._entry()
        sections = [(f"Descendants of {entry.name}", [graph.build_tree(kb, entry.id)]),
                    (f"Ancestors of {entry.name}", [graph.build_tree(kb, entry.id, upward=True)])]
        if entry.family:
            sections.append((f"The {entry.family} family", graph.family_forest(kb, entry.family)))
        self.push_screen(TreeScreen(f"Family tree of {entry.name}", sections, kb.entries), self._chosen)

    @notify_errors
    def action_back(self) -> None:
        previous = self.history.back()
        if previous is None:
            raise NotFound("no earlier entry to go back to")
        self._show(previous, move_cursor=True)

    # --- demo, paper, citation, help ----------------------------------------------------------

    @notify_errors
    def action_demo(self) -> None:
        from evollm.browse.screens import DemoScreen

        entry = self._entry()
        if not entry.demo:
            with_demo = ", ".join(f"{e.id} ({e.demo})" for e in self.browser.kb if e.demo) or "none"
            raise NotFound(f"{entry.id} has no demo; entries with one: {with_demo}")
        running = self.demo_tracker.get("thread")
        if running is not None and running.is_alive():
            raise NotFound("a cancelled demo is still running in the background (it cannot be interrupted "
                           "there); try again when it has finished")
        if self.run_demo is None:
            from evollm.demos.runner import run_demo

            self.run_demo = run_demo
        self.push_screen(DemoScreen(entry.demo, entry.name, self.run_demo, self.demo_tracker))

    @notify_errors
    def action_open_paper(self) -> None:
        entry = self._entry()
        url = entry.links.get("paper")
        if not url:
            raise NotFound(f"{entry.id} has no paper link")
        self._open(url)

    @work(thread=True, exit_on_error=False, group="open-url")
    def _open(self, url: str) -> None:
        """On a thread: finding a browser may run a program (xdg-settings) or two."""
        if self.url_opener(url):
            self.notify(f"opened {url}", markup=False)
        else:
            self.notify(f"No browser can be opened from here. The paper: {url}", title="paper link",
                        timeout=30, markup=False)

    @notify_errors
    def action_copy_bibtex(self) -> None:
        text = self.browser.bibtex(self._entry().id)
        self.copy_to_clipboard(text)
        self.notify(text.rstrip() + "\n\n(sent to the clipboard through the terminal, which may ignore it)",
                    title="BibTeX", timeout=15, markup=False)

    @classmethod
    def help_rows(cls) -> list[tuple[str, str]]:
        """(keys, what they do) for every key of the app, from the bindings themselves (the help
        screen and the README's table both show this)."""
        rows = [(_keys(b), b.tooltip or b.description) for b in TimelineView.BINDINGS]
        rows += [(_keys(b), b.tooltip or b.description) for b in cls.BINDINGS]
        rows += [
            ("tab / shift+tab", "move between the search, the list, the card (arrows scroll it) and its links"),
            ("enter (on a link)", "go to that parent, child or adopter"),
            ("mouse", "click a row or a link; double-click a row to open it; the wheel scrolls"),
            ("in the tree", "enter: go to the entry · space: open or close · e: open all · escape: back"),
            ("in a demo", "escape: cancel while it runs, close when it is done"),
        ]
        return rows

    def action_help(self) -> None:
        from evollm.browse.screens import HelpScreen

        self.push_screen(HelpScreen(self.help_rows()))

    # --- terminal size, crashes ---------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        self._check_size(event.size.width, event.size.height)

    def _check_size(self, width: int, height: int) -> None:
        small = width < MIN_WIDTH or height < MIN_HEIGHT
        shown = isinstance(self.screen, TooSmallScreen)
        if small and not shown:
            self.push_screen(TooSmallScreen())
        elif small:
            self.screen.describe(width, height)
        elif shown:
            self.pop_screen()

    def _handle_exception(self, error: Exception) -> None:
        # Textual's last resort: it ends the app and prints a traceback. Keep the error, so
        # run_guarded can report it in one line; Textual's printing goes to a discarded console.
        if self.crash is None:
            self.crash = error
        super()._handle_exception(error)

    def run_guarded(self, **options) -> None:
        """Run the app (`options` as `App.run` takes them); an error that escaped every handler
        is raised as one EvollmError."""
        import io

        from rich.console import Console

        self.error_console = Console(file=io.StringIO())
        self.run(**options)
        if self.crash is not None:
            raise EvollmError(f"evollm browse stopped on an unexpected error: {type(self.crash).__name__}: "
                              f"{self.crash}")


def _nothing():
    from evollm.render.styled import Styled

    return Styled().add("No entry.", "dim").end()
