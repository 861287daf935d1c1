"""Snapshots of `evollm browse` at 100x30 on the mini knowledge base: the main screen and the
family tree. Fixed size, fixture data and era headings, no clock on screen; NO_COLOR is set for
every test (conftest), so the pictures are monochrome.

    pytest tests/test_browse_snapshots.py --snapshot-update    # after a deliberate change; look at them
"""

import pytest

from conftest import FIXTURES, MINI

pytest.importorskip("pytest_textual_snapshot")

from evollm import query  # noqa: E402
from evollm.browse.app import BrowseApp  # noqa: E402
from evollm.kb import load_knowledge_base  # noqa: E402

SIZE = (100, 30)


def app_on(entry_id: str) -> BrowseApp:
    return BrowseApp(load_knowledge_base(MINI), focus=entry_id, eras=query.load_eras(FIXTURES / "eras.yaml"))


def test_main_screen(snap_compare):
    assert snap_compare(app_on("hybrid"), terminal_size=SIZE)


def test_family_tree_expanded(snap_compare):
    assert snap_compare(app_on("attn"), press=["t", "e"], terminal_size=SIZE)
