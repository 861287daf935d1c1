"""Styled lines: what the read commands render, printed through rich on a terminal and as plain
text when piped.

Rich lays out text cell by cell, which is right for a terminal and wasted on a pipe: a family
tree of 300 members took 50 ms to lay out, and importing rich another 15 ms. The renderers here
lay out lines themselves (columns, wrapping, tree guides) as (text, style) segments; `__rich__`
turns them into a rich Text for a terminal, `plain()` into a string for everything else.
"""

from __future__ import annotations

import textwrap


class Styled:
    def __init__(self) -> None:
        self.lines: list[list[tuple[str, str | None]]] = [[]]

    def add(self, text: str, style: str | None = None) -> Styled:
        if text:
            self.lines[-1].append((text, style))
        return self

    def end(self) -> Styled:
        """Finish the current line."""
        self.lines.append([])
        return self

    def wrapped(self, text: str, width: int, *, label: str = "", label_style: str | None = None,
                indent: int = 0, style: str | None = None) -> Styled:
        """`text` wrapped to `width` columns with a hanging indent of `indent`; the first line
        starts with `label` (padded to the indent, or followed by one space if it is longer)."""
        first = len(label) + 1 if label and len(label) >= indent else indent
        wrapper = textwrap.TextWrapper(width=indent + max(20, width - indent), initial_indent=" " * first,
                                       subsequent_indent=" " * indent, break_on_hyphens=False)
        rows = wrapper.wrap(text) or [" " * first]
        for n, row in enumerate(rows):
            if n == 0:
                self.add(label.ljust(first), label_style).add(row[first:], style).end()
            else:
                self.add(" " * indent).add(row[indent:], style).end()
        return self

    def _finished(self) -> list[list[tuple[str, str | None]]]:
        return self.lines[:-1] if self.lines and not self.lines[-1] else self.lines

    def plain(self) -> str:
        """The lines as text, control characters escaped (one pass over the whole: cheap)."""
        from evollm.text import visible

        return visible("\n".join("".join(text for text, _ in line) for line in self._finished()), keep_newlines=True)

    def __rich__(self):
        """A rich Text built by appending (never markup), control characters escaped."""
        from rich.text import Text

        from evollm.text import visible

        out = Text(no_wrap=True, overflow="ellipsis")
        for n, line in enumerate(self._finished()):
            if n:
                out.append("\n")
            for text, style in line:
                out.append(visible(text), style=style)
        return out


def fit(text: str, width: int) -> str:
    """`text` cut to `width` characters with an ellipsis."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"
