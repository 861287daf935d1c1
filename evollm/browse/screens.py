"""The screens `evollm browse` opens over the timeline: a chooser, the help, the filters, the
family tree and a demo run. Imported when one is first opened, not at start-up.

Entry text reaches the screen only inside rich `Text` objects (or with markup off), never as a
markup string: a name like "[b]ad" is shown as it is written.
"""

from __future__ import annotations

import threading
import time

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Footer, Input, Label, OptionList, ProgressBar, Select, Static, Tree
from textual.widgets.option_list import Option

from evollm.browse.model import Filters
from evollm.browse.widgets import notify_errors


class ChooserScreen(ModalScreen[str | None]):
    """Pick one entry from a list (several parents, children, adopters); dismisses with its id."""

    BINDINGS = [Binding("escape", "dismiss_none", "Close")]
    DEFAULT_CSS = """
    ChooserScreen { align: center middle; }
    ChooserScreen > Vertical { width: 70; max-width: 90%; height: auto; max-height: 80%;
                               border: round $accent; background: $surface; padding: 0 1; }
    ChooserScreen OptionList { height: auto; max-height: 20; border: none; }
    ChooserScreen .hint { color: $text-muted; }
    """

    def __init__(self, title: str, choices: list[tuple[str, Text]]) -> None:
        super().__init__()
        self.title_text = title
        self.choices = choices  # (entry id, label)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self.title_text, style="bold"))
            yield OptionList(*[Option(label, id=str(n)) for n, (_, label) in enumerate(self.choices)])
            yield Label(Text("enter: go there   escape: close"), classes="hint")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.choices[int(event.option_id)][0])

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class HelpScreen(ModalScreen[None]):
    """Every key of the app, from the bindings themselves."""

    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 78; max-width: 95%; height: auto; max-height: 90%;
                                  border: round $accent; background: $surface; padding: 0 1; }
    """

    def __init__(self, rows: list[tuple[str, str]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
        table.add_column(no_wrap=True, style="bold")
        table.add_column()
        for keys, what in self.rows:
            table.add_row(Text(keys), Text(what))
        with VerticalScroll():
            yield Static(Text("evollm browse: keys", style="bold"))
            yield Static(table)
            yield Static(Text("escape, q or ? closes this help", style="dim"))

    def action_close(self) -> None:
        self.dismiss(None)


class FiltersScreen(ModalScreen[Filters | None]):
    """The timeline's filters: kind, lab (any lab containing the text), family and topic."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    FiltersScreen { align: center middle; }
    FiltersScreen > Vertical { width: 60; height: auto; border: round $accent; background: $surface;
                               padding: 0 1; }
    FiltersScreen Label { margin-top: 1; }
    FiltersScreen Horizontal { height: auto; margin-top: 1; }
    FiltersScreen Button { margin-right: 2; min-width: 10; }
    """

    def __init__(self, current: Filters, kinds: list[str], families: list[str], topics: list[str],
                 labs: list[str]) -> None:
        super().__init__()
        self.current = current
        self.kinds, self.families, self.topics, self.labs = kinds, families, topics, labs

    def compose(self) -> ComposeResult:
        def select(name: str, values: list[str], prompt: str) -> Select:
            value = getattr(self.current, name)
            return Select([(Text(v), v) for v in values], prompt=prompt, compact=True, id=f"filter-{name}",
                          value=value if value in values else Select.NULL)

        with Vertical():
            yield Label(Text("Filters", style="bold"))
            yield Label("Kind")
            yield select("kind", self.kinds, "any kind")
            yield Label("Lab (any lab containing the text)")
            yield Input(self.current.lab or "", placeholder="any lab", compact=True, id="filter-lab",
                        suggester=SuggestFromList(self.labs, case_sensitive=False))
            yield Label("Family")
            yield select("family", self.families, "any family")
            yield Label("Topic")
            yield select("topic", self.topics, "any topic")
            with Horizontal():
                yield Button("Apply", variant="primary", id="apply", compact=True)
                yield Button("Clear all", id="clear", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def chosen(self) -> Filters:
        def value(name: str):
            picked = self.query_one(f"#filter-{name}", Select).value
            return None if picked is Select.NULL else picked

        lab = self.query_one("#filter-lab", Input).value.strip()
        return Filters(kind=value("kind"), lab=lab or None, family=value("family"), topic=value("topic"))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "apply":
            self.dismiss(self.chosen())
        elif event.button.id == "clear":
            self.dismiss(Filters())
        else:
            self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(self.chosen())

    def action_cancel(self) -> None:
        self.dismiss(None)


class TreeScreen(Screen[str | None]):
    """The family tree of an entry: its descendants, its ancestors and its family, drawn as
    `evollm tree` draws them (typed edges; an entry reached again marked, not repeated).
    Branches are added when expanded, so a tree of 10,000 entries costs only what is open."""

    BINDINGS = [
        Binding("e", "expand_all", "Open all"),
        Binding("escape", "close", "Back"),
    ]
    DEFAULT_CSS = """
    TreeScreen Tree { height: 1fr; }
    TreeScreen .hint { color: $text-muted; }
    """

    def __init__(self, title: str, sections: list[tuple[str, list]], entries) -> None:
        super().__init__()
        self.title_text = title
        self.sections = sections  # (heading, [graph.TreeNode]) in order
        self.entries = entries

    def compose(self) -> ComposeResult:
        tree: Tree = Tree(Text(self.title_text), id="lineage")
        tree.show_root = False
        tree.auto_expand = False
        yield Label(Text(self.title_text, style="bold"))
        yield Label(Text("enter: go to the entry   space: open or close   e: open all   escape: back"),
                    classes="hint")
        yield tree
        yield Footer(compact=True)

    def on_mount(self) -> None:
        tree = self.query_one(Tree)
        for heading, forest in self.sections:
            section = tree.root.add(Text(heading, style="bold"), data=None, expand=True)
            for node in forest:
                self._add(section, node).expand()
        tree.focus()

    def _add(self, parent, node):
        """Add `node` under `parent`; its children are added when it is first expanded."""
        from evollm.render.tree import node_label

        label = node_label(node, self.entries).__rich__()
        if node.children:
            return parent.add(label, data=node)
        return parent.add_leaf(label, data=node)

    def _fill(self, tree_node) -> None:
        node = tree_node.data
        if node is not None and node.children and not tree_node.children:
            for child in node.children:
                self._add(tree_node, child)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded) -> None:
        self._fill(event.node)

    @notify_errors
    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        event.stop()
        if event.node.data is None:  # a section heading: open or close it
            event.node.toggle()
        else:
            self.dismiss(event.node.data.id)

    @notify_errors
    def action_expand_all(self) -> None:
        """Open every branch (at most 2,000 nodes, so a huge lineage cannot freeze the app)."""
        tree = self.query_one(Tree)
        budget = 2000
        stack = list(tree.root.children)
        while stack and budget > 0:
            tree_node = stack.pop()
            self._fill(tree_node)
            tree_node.expand()
            budget -= len(tree_node.children)
            stack.extend(tree_node.children)
        if stack:
            self.app.notify("stopped opening branches at 2,000 entries", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)


class DemoCancelled(BaseException):
    """Raised inside the demo's thread, from its progress callback, once cancel is asked. A
    BaseException, as KeyboardInterrupt is, so that no `except Exception` in a demo swallows it."""


class DemoScreen(Screen[None]):
    """Run an entry's demo in quick mode on a thread, with a progress bar and then its checks.

    Escape cancels. A demo cannot be stopped at an arbitrary point: it is stopped at its next
    progress report (the longer ones report as they go; some report only at the end), and one
    that reports no more runs to its end in the background with its result thrown away. The
    notification says which. A daemon thread rather than a Textual thread worker: those run on
    asyncio's default executor, which is joined when the app exits, so quitting would wait for
    the demo (measured: a worker sleeping 4 s held `App.run` for 4 s after `exit`)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel / close")]
    DEFAULT_CSS = """
    DemoScreen > Vertical { padding: 0 1; }
    DemoScreen ProgressBar { margin: 1 0; }
    DemoScreen #demo-status { color: $text-muted; }
    DemoScreen VerticalScroll { height: 1fr; }
    """

    class Finished(Message):
        def __init__(self, outcome: str, value) -> None:
            super().__init__()
            self.outcome, self.value = outcome, value  # "done" (spec, result, seconds), "cancelled", "error"

    def __init__(self, demo: str, entry_name: str, run_demo, tracker: dict) -> None:
        super().__init__()
        self.demo, self.entry_name = demo, entry_name
        self.run_demo = run_demo  # runner.run_demo, or a stand-in in tests
        self.tracker = tracker  # shared with the app: tracker["thread"] is the running demo
        self.cancel = threading.Event()
        self.fraction = 0.0
        self.reports = 0
        self.started = time.monotonic()
        self.running = True

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(f"Demo {self.demo} (quick) for {self.entry_name}", style="bold"))
            yield ProgressBar(total=1.0, show_eta=False, id="demo-progress")
            yield Static(Text("starting..."), id="demo-status")
            with VerticalScroll():
                yield Static(id="demo-result")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        thread = threading.Thread(target=self._work, name=f"demo-{self.demo}", daemon=True)
        self.tracker["thread"] = thread
        thread.start()
        self.timer = self.set_interval(0.1, self._tick)

    def _work(self) -> None:
        """The demo's thread: run it, then post what happened (never raises)."""
        try:
            outcome = ("done", self.run_demo(self.demo, quick=True, progress=self._progress))
        except DemoCancelled:
            outcome = ("cancelled", None)
        except Exception as exc:  # noqa: BLE001 - reported on screen, never as a traceback
            outcome = ("error", f"{type(exc).__name__}: {exc}")
        try:
            self.post_message(self.Finished(*outcome))
        except Exception:  # noqa: BLE001 - the app may be gone
            pass

    def _progress(self, fraction: float) -> None:
        """The demo's progress callback (on its thread): record, or stop the demo if cancelled."""
        if self.cancel.is_set():
            raise DemoCancelled
        self.fraction = min(1.0, max(0.0, float(fraction)))
        self.reports += 1

    def _tick(self) -> None:
        if not self.running:
            return
        self.query_one(ProgressBar).update(progress=self.fraction)
        seconds = time.monotonic() - self.started
        self.query_one("#demo-status", Static).update(
            Text(f"running, {seconds:.1f} s   (escape cancels)"))

    @notify_errors
    def on_demo_screen_finished(self, event: Finished) -> None:
        self.running = False
        self.timer.stop()
        status = self.query_one("#demo-status", Static)
        if event.outcome == "done":
            from evollm.render.demo import demo_report

            spec, result, seconds = event.value
            self.query_one(ProgressBar).update(progress=1.0)
            self.query_one("#demo-result", Static).update(demo_report(spec, result, seconds))
            status.update(Text("finished   (escape closes)"))
        elif event.outcome == "error":
            status.update(Text(f"the demo failed: {event.value}   (escape closes)"))
            self.app.notify(f"demo {self.demo} failed: {event.value}", severity="error", markup=False)

    def action_cancel(self) -> None:
        if self.running:
            self.cancel.set()
            self.running = False
            self.app.notify(self.cancel_message(), title="demo cancelled", markup=False)
        self.dismiss(None)

    def cancel_message(self) -> str:
        """What cancelling does, honestly: a demo can only be stopped at a progress report."""
        if self.reports:
            return (f"Cancelled {self.demo}: it stops at its next progress report, or, if it makes no "
                    "more, runs to its end in the background. Its result is discarded either way.")
        return (f"Stopped waiting for {self.demo}: a demo can only be interrupted at a progress report "
                "and this one has made none yet, so it goes on in the background until its next "
                "report or its end. Its result is discarded.")
