"""The `browse` command: parse, resolve the id before any screen starts, then run the Textual app
(imported only here, so no other command pays for it)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from evollm.cli.common import DataOption, commands_of, group, load, resolve

app = group()
command = commands_of(app)


@command()
def browse(
    entry_id: Annotated[Optional[str], typer.Argument(metavar="ID", help="Open with this entry focused.",
                                                      show_default=False)] = None,
    data: DataOption = None,
) -> None:
    """A full-screen browser: the timeline, cards, family trees, demos (keys: ? in the app)."""
    from evollm.errors import NotFound, UsageError

    kb = load(data)
    try:
        focus = resolve(kb, entry_id).id if entry_id is not None else None
    except NotFound as exc:  # the app cannot start on it: a usage error, told before the screen starts
        raise UsageError(exc.message) from None
    from evollm.browse import run

    run(kb, focus)
