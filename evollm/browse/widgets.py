"""The timeline list of `evollm browse`, and the error boundary of its handlers.

The list draws only the rows on screen (Textual's line API): 10,000 entries cost one Python
object each, never a widget each.
"""

from __future__ import annotations

import functools

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from evollm.browse.model import Rows
from evollm.errors import EvollmError


def notify_errors(handler):
    """Run an event handler or action; an error becomes a notification, never a traceback.

    An evollm error (not found, no demo, ...) is shown as the CLI would print it; anything else
    as a one-line report of an unexpected error, and the app carries on."""

    @functools.wraps(handler)
    def wrapper(self, *args, **kwargs):
        try:
            return handler(self, *args, **kwargs)
        except EvollmError as exc:
            self.app.notify(exc.message, severity="warning", markup=False)
        except Exception as exc:  # noqa: BLE001 - the boundary: nothing may escape to the screen
            self.app.notify(f"unexpected error: {type(exc).__name__}: {exc}", title="evollm browse",
                            severity="error", markup=False)
        return None

    return wrapper


ROLES = ("heading", "era", "count", "date", "name", "kind", "labs", "cursor", "empty")


class TimelineView(ScrollView, can_focus=True):
    """Year headings and entry rows; a cursor on one entry. Posts `Highlighted` when the cursor
    moves and `Opened` on enter or a double click."""

    BINDINGS = [
        Binding("up,k", "move(-1)", "Up", show=False, tooltip="the previous entry (the card follows the cursor)"),
        Binding("down,j", "move(1)", "Down", show=False, tooltip="the next entry"),
        Binding("pageup", "page(-1)", "Page up", show=False, tooltip="a screen up"),
        Binding("pagedown", "page(1)", "Page down", show=False, tooltip="a screen down"),
        Binding("home", "edge(-1)", "First", show=False, tooltip="the first entry"),
        Binding("end", "edge(1)", "Last", show=False, tooltip="the last entry"),
        Binding("enter", "open", "Open", show=False,
                tooltip="open the entry: the keys go to its links (parents, children, adopters)"),
    ]

    COMPONENT_CLASSES = {f"timeline--{role}" for role in ROLES}

    DEFAULT_CSS = """
    TimelineView { overflow-x: hidden; }
    TimelineView > .timeline--heading { text-style: bold; }
    TimelineView > .timeline--era { color: $accent; text-style: bold; }
    TimelineView > .timeline--count { color: $text-muted; }
    TimelineView > .timeline--date { color: $text-muted; }
    TimelineView > .timeline--name { text-style: bold; }
    TimelineView > .timeline--kind { color: $text-secondary; }
    TimelineView > .timeline--labs { }
    TimelineView > .timeline--empty { color: $text-muted; text-style: italic; }
    TimelineView > .timeline--cursor {
        background: $block-cursor-blurred-background;
        color: $block-cursor-blurred-foreground;
        text-style: $block-cursor-blurred-text-style;
    }
    TimelineView:focus > .timeline--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
        text-style: $block-cursor-text-style;
    }
    """

    class Highlighted(Message):
        """The cursor moved onto an entry."""

        def __init__(self, entry_id: str) -> None:
            super().__init__()
            self.entry_id = entry_id

    class Opened(Message):
        """Enter (or a double click) on an entry."""

        def __init__(self, entry_id: str) -> None:
            super().__init__()
            self.entry_id = entry_id

    def __init__(self, rows: Rows, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.rows = rows
        self.cursor = rows.next_entry(0, 1) or 0
        self._lines: LRUCache[tuple, Strip] = LRUCache(1024)
        self._styles: dict[str, Style] = {}
        self._placed = False  # has the cursor been scrolled to, at a known size?

    # --- what other code calls ------------------------------------------------------------

    @property
    def entry_id(self) -> str | None:
        """The id of the entry under the cursor (None when the list is empty)."""
        entry = self.rows.entry_at(self.cursor)
        return entry.id if entry is not None else None

    def show_rows(self, rows: Rows, focus: str | None = None) -> None:
        """Replace the rows; the cursor on `focus` if listed, else on the first entry."""
        self.rows = rows
        at = rows.position.get(focus) if focus is not None else None
        self.cursor = at if at is not None else (rows.next_entry(0, 1) or 0)
        self._lines.clear()
        self.virtual_size = Size(self.size.width, len(rows))
        if at is None:
            self.scroll_to(y=0, animate=False, immediate=True)
        else:
            self._reveal(center=True)
        self.refresh()

    def move_to(self, entry_id: str) -> bool:
        """Put the cursor on `entry_id`; False if the entry is not listed (filtered out)."""
        at = self.rows.position.get(entry_id)
        if at is None:
            return False
        self._set_cursor(at, center=True)
        return True

    # --- keys and mouse -------------------------------------------------------------------

    def action_move(self, step: int) -> None:
        target = self.rows.next_entry(self.cursor + step, step)
        if target is not None:
            self._set_cursor(target, announce=True)

    def action_page(self, direction: int) -> None:
        target = self.cursor + direction * max(1, self.size.height - 1)
        target = max(0, min(len(self.rows) - 1, target))
        found = self.rows.next_entry(target, direction)
        if found is None:
            found = self.rows.next_entry(target, -direction)
        if found is not None:
            self._set_cursor(found, announce=True)

    def action_edge(self, direction: int) -> None:
        found = self.rows.next_entry(0, 1) if direction < 0 else self.rows.next_entry(len(self.rows) - 1, -1)
        if found is not None:
            self._set_cursor(found, announce=True)

    def action_open(self) -> None:
        if self.entry_id is not None:
            self.post_message(self.Opened(self.entry_id))

    @notify_errors
    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        index = self.scroll_offset.y + offset.y
        if self.rows.entry_at(index) is None:
            return
        self._set_cursor(index, announce=True)
        if event.chain >= 2:
            self.action_open()

    def on_resize(self, event: events.Resize) -> None:
        self._lines.clear()
        self.virtual_size = Size(event.size.width, len(self.rows))
        # The first size is known only now: then the cursor goes to the middle; later, into view.
        self.call_after_refresh(self._reveal, center=not self._placed)
        self._placed = True

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._lines.clear()

    def on_focus(self) -> None:
        self.refresh()  # the cursor's colour says whether the list has the keys

    def on_blur(self) -> None:
        self.refresh()

    # --- drawing --------------------------------------------------------------------------

    def _set_cursor(self, index: int, *, announce: bool = False, center: bool = False) -> None:
        before, self.cursor = self.cursor, index
        self.refresh_lines(before)
        self.refresh_lines(index)
        self._reveal(center=center)
        if announce and self.entry_id is not None:
            self.post_message(self.Highlighted(self.entry_id))

    def _reveal(self, *, center: bool = False) -> None:
        """Scroll the cursor into view, with its year's heading when it is the year's first entry."""
        if not self.size.height:  # not laid out yet: on_resize does it
            return
        top = self.cursor - 1 if self.cursor and self.rows.entry_at(self.cursor - 1) is None else self.cursor
        region = Region(0, top, 1, self.cursor - top + 1)
        self.scroll_to_region(region, animate=False, center=center, origin_visible=False, immediate=True)

    def _style(self, role: str) -> Style:
        """The style of a role (component class); "" for the widget's own (cached: computing it
        walks the ancestors' backgrounds, too slow for every line)."""
        style = self._styles.get(role)
        if style is None:
            style = self.rich_style if not role else self.get_component_rich_style(f"timeline--{role}", partial=True)
            self._styles[role] = style
        return style

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.scrollable_content_region.width  # without the scrollbar
        base = self._style("")
        if not len(self.rows):
            if y == 0:
                return Strip([Segment("No entry matches.", base + self._style("empty"))]).crop_extend(0, width, base)
            return Strip.blank(width, base)
        if index >= len(self.rows):
            return Strip.blank(width, base)
        key = (index, width, index == self.cursor, self.has_focus)
        strip = self._lines.get(key)
        if strip is None:
            cursor = self._style("cursor") if index == self.cursor else None
            segments = []
            for text, role in self.rows.line(index, width):
                style = base + self._style(role)
                segments.append(Segment(text, style + cursor if cursor else style))
            fill = base + cursor if cursor else base
            strip = self._lines[key] = Strip(segments).crop_extend(0, width, fill)
        return strip


class CardView(ScrollView, can_focus=True):
    """The card of one entry, drawn by `render.card.card` at this pane's width. Like the list,
    it draws only the lines on screen: showing another card changes no layout."""

    BINDINGS = [
        Binding("up,k", "scroll_up", "Scroll up", show=False),
        Binding("down,j", "scroll_down", "Scroll down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown,space", "page_down", "Page down", show=False),
        Binding("home", "scroll_home", "Top", show=False),
        Binding("end", "scroll_end", "Bottom", show=False),
    ]
    DEFAULT_CSS = """
    CardView { scrollbar-gutter: stable; overflow-x: hidden; margin: 0 0 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.draw = None  # width -> Styled
        self.drawn_width = 0
        self.lines: list = []  # rich Text, one per line
        self._strips: LRUCache[tuple[int, int], Strip] = LRUCache(256)
        self._base: Style | None = None

    def show(self, draw) -> None:
        """Draw the card `draw(width)` returns, from its top."""
        self.draw = draw
        self._paint()
        self.scroll_to(0, 0, animate=False, immediate=True)

    def plain(self) -> str:
        return "\n".join(line.plain for line in self.lines)

    def on_resize(self, event: events.Resize) -> None:
        if self.scrollable_content_region.width != self.drawn_width:
            self._paint()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()
        self._base = None

    def _paint(self) -> None:
        width = self.scrollable_content_region.width  # without the scrollbar
        if self.draw is None or width <= 0:
            return
        self.drawn_width = width
        # Through the renderer's own rich Text (never markup), split into lines.
        self.lines = self.draw(width).__rich__().split("\n", allow_blank=True)
        self._strips.clear()
        self.virtual_size = Size(width, len(self.lines))
        self.refresh()

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.scrollable_content_region.width
        if self._base is None:  # cached: computing it walks the ancestors' backgrounds
            self._base = self.rich_style
        base = self._base
        if index >= len(self.lines):
            return Strip.blank(width, base)
        key = (index, width)
        strip = self._strips.get(key)
        if strip is None:
            segments = self.lines[index].render(self.app.console)
            strip = self._strips[key] = Strip(segments).apply_style(base).crop_extend(0, width, base)
        return strip
