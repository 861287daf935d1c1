"""`evollm browse`: the knowledge base in a full-screen terminal application.

Only `app.py`, `widgets.py` and `screens.py` import Textual, and only `run` below imports them,
so no other command pays for Textual. `model.py` holds what the app shows (rows, filters,
search, cards, links, history) as plain Python, for tests and benchmarks without a screen.
"""

from __future__ import annotations

import sys


def run(kb, focus: str | None = None) -> None:
    """Start the app on `kb` with entry `focus` (an id) under the cursor; returns when it quits."""
    from evollm.errors import UsageError

    if not (_is_tty(sys.__stdin__) and _is_tty(sys.__stderr__)):
        # Textual reads keys from stdin and draws on stderr; without a terminal it cannot start.
        raise UsageError("evollm browse needs a terminal; in a pipe or a script use evollm timeline, "
                         "show, tree or search")
    from evollm.browse.app import BrowseApp

    BrowseApp(kb, focus=focus).run_guarded()


def _is_tty(stream) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (ValueError, OSError):  # a closed stream
        return False
