"""The HTML page in a real browser: headless Chromium draws it, and a click and keystrokes in the
search box filter the cards. Skipped when /usr/bin/chromium is absent (.ci/run installs it).

The interaction uses Chromium's DevTools protocol over a pipe (--remote-debugging-pipe: commands
in on fd 3, replies out on fd 4, each a JSON message ending in NUL), so no port, no websocket
library and no network is involved.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shlex
import subprocess
import time
import zlib
from pathlib import Path

import pytest

from conftest import MINI

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--hide-scrollbars", "--mute-audio"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install chromium)")


# --- a tiny PNG reader: enough to tell a drawn page from a blank one ------------------------------


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit RGB or RGBA PNG, filters undone."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], None
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + length
    width, height = int.from_bytes(header[0:4], "big"), int.from_bytes(header[4:8], "big")
    depth, colour_type, interlace = header[8], header[9], header[12]
    assert depth == 8 and colour_type in (2, 6) and interlace == 0, "only 8-bit RGB(A), not interlaced"
    bpp = 3 if colour_type == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if kind == 1:  # Sub
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:  # Up
            line = bytearray((a + b) & 0xFF for a, b in zip(line, previous))
        elif kind == 3:  # Average
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + previous[i]) >> 1)) & 0xFF
        elif kind == 4:  # Paeth
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = previous[i]
                c = previous[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, rows


def looks_drawn(png: bytes, step: int = 3) -> tuple[int, float]:
    """(distinct colours, share of pixels unlike the most common one) over a grid of samples."""
    width, height, rows = png_pixels(png)
    bpp = len(rows[0]) // width
    samples = [rows[y][x * bpp:x * bpp + 3] for y in range(0, height, step) for x in range(0, width, step)]
    counts: dict[bytes, int] = {}
    for pixel in samples:
        counts[pixel] = counts.get(pixel, 0) + 1
    background = max(counts.values())
    return len(counts), 1 - background / len(samples)


# --- the page -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    """The HTML export of the shipped knowledge base (the page users get), plus the fixture's."""
    from typer.testing import CliRunner

    from evollm.cli import app

    from evollm.kb import _package_data

    folder = tmp_path_factory.mktemp("page")
    env = {"EVOLLM_NO_CACHE": "1", "EVOLLM_DATA": None}
    for name, data in (("all.html", _package_data()), ("mini.html", MINI)):
        result = CliRunner().invoke(app, ["export", "--format", "html", "-o", str(folder / name), "--data", str(data)],
                                    env=env)
        assert result.exit_code == 0, result.output
    return folder


def test_screenshot_is_a_drawn_page(page, tmp_path):
    shot = tmp_path / "page.png"
    out = subprocess.run(
        [str(CHROMIUM), *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
         "--window-size=1200,2000", (page / "all.html").as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert shot.is_file() and shot.stat().st_size > 30_000, out.stderr[-2000:]
    colours, inked = looks_drawn(shot.read_bytes())
    assert colours > 50, f"only {colours} colours: a blank or unstyled page?"
    assert inked > 0.03, f"only {inked:.1%} of the page differs from its background"


# --- DevTools over a pipe -------------------------------------------------------------------------


class DevTools:
    """A Chromium process and its DevTools protocol, spoken over a pair of pipes."""

    def __init__(self, profile: Path):
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # The protocol wants fds 3 and 4 exactly: let the shell move our pipe ends there.
        command = shlex.join([str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe",
                              "about:blank"])
        self.process = subprocess.Popen(
            ["bash", "-c", f"exec {command} 3<&{to_chrome_r} 4>&{from_chrome_w}"],
            pass_fds=(to_chrome_r, from_chrome_w), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        self.session: str | None = None

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_chrome], [], [], max(0.0, left))
            if not ready:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._from_chrome, 1 << 16)
            if not chunk:
                raise EOFError("Chromium closed the pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, params: dict | None = None, *, browser: bool = False, timeout: float = 30) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if self.session and not browser:
            message["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                assert "error" not in reply, f"{method}: {reply['error']}"
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        for i, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(i)
        while True:
            event = self._read_message(deadline)
            if event.get("method") == method:
                return event
            self.events.append(event)

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def open(self, url: str, width: int = 1200, height: int = 2000) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"}, browser=True)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 browser=True)["sessionId"]
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        self.send("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired")

    def click(self, selector: str) -> None:
        box = self.evaluate(f"JSON.stringify(document.querySelector({json.dumps(selector)}).getBoundingClientRect())")
        box = json.loads(box)
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})

    def type(self, text: str) -> None:
        for char in text:
            self.send("Input.dispatchKeyEvent", {"type": "keyDown", "key": char, "text": char})
            self.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": char})

    def screenshot(self) -> bytes:
        return base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"})["data"])

    def close(self) -> None:
        try:
            self.send("Browser.close", browser=True, timeout=5)
        except (TimeoutError, EOFError, OSError, AssertionError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)


@pytest.fixture
def browser(tmp_path):
    devtools = DevTools(tmp_path / "profile")
    yield devtools
    devtools.close()


def _expected_matches(words: str, data=MINI) -> list[str]:
    """The ids the page's search should keep: every word starts a word of the entry's search text (as
    written, or with punctuation dropped from both: "gpt35" finds GPT-3.5)."""
    import re

    from evollm.export.html import search_text
    from evollm.kb import load_knowledge_base

    def starts_word(hay: str, word: str) -> bool:
        return re.search(r"(?<![a-z0-9])" + re.escape(word), hay) is not None

    def keeps(text: str, word: str) -> bool:
        compact = re.sub(r"[^a-z0-9]", "", word)
        return starts_word(text, word) or bool(compact and starts_word(re.sub(r"[^a-z0-9\s]", "", text), compact))

    return [e.id for e in load_knowledge_base(data) if all(keeps(search_text(e), w) for w in words.lower().split())]


def test_click_and_type_in_the_search_box_filters_cards(page, browser):
    browser.open((page / "mini.html").as_uri())
    total = browser.evaluate("document.querySelectorAll('article.card').length")
    assert total == 8

    browser.click("#q")
    assert browser.evaluate("document.activeElement && document.activeElement.id") == "q"
    browser.type("lab three")
    visible = browser.evaluate("[...document.querySelectorAll('article.card:not([hidden])')].map(c => c.dataset.id)")
    assert visible == _expected_matches("lab three") == ["enc-2", "hybrid"]
    assert browser.evaluate("document.getElementById('count').textContent") == "2 of 8 shown"
    # Years left without a visible card are hidden, and their jump links dimmed.
    assert browser.evaluate("[...document.querySelectorAll('section.year:not([hidden])')].map(s => s.id)") == \
        ["y2019", "y2020"]
    assert browser.evaluate("document.querySelector('nav.years a[data-year=\"2017\"]').classList.contains('empty')")

    # Punctuation-free spelling finds the hyphenated name too; Escape clears the filter.
    browser.evaluate("document.getElementById('q').value = ''")
    browser.type("enc2")
    assert browser.evaluate("[...document.querySelectorAll('article.card:not([hidden])')].map(c => c.dataset.id)") \
        == ["enc-2"]
    browser.send("Input.dispatchKeyEvent", {"type": "keyDown", "key": "Escape", "code": "Escape",
                                            "windowsVirtualKeyCode": 27})
    assert browser.evaluate("document.querySelectorAll('article.card:not([hidden])').length") == 8


def test_the_full_page_loads_nothing_and_logs_no_error(page, browser):
    browser.open((page / "all.html").as_uri(), width=1280, height=900)
    cards = browser.evaluate("document.querySelectorAll('article.card').length")
    assert cards == len(_expected_matches("", data=None))
    browser.click("#q")
    browser.type("bert")
    shown = browser.evaluate("document.querySelectorAll('article.card:not([hidden])').length")
    assert shown == len(_expected_matches("bert", data=None)) and 0 < shown < cards
    colours, inked = looks_drawn(browser.screenshot())
    assert colours > 20 and inked > 0.03

    requests = [e["params"]["request"]["url"] for e in browser.events if e.get("method") == "Network.requestWillBeSent"]
    assert requests and all(url.startswith(("file://", "data:", "about:")) for url in requests), requests
    problems = [e["params"]["entry"] for e in browser.events
                if e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error"]
    problems += [e["params"] for e in browser.events if e.get("method") == "Runtime.exceptionThrown"]
    assert problems == []
