"""Text from entries, file names and the network is data: what may be in it, and how it is shown.

The schema refuses the characters a terminal acts on (`CONTROL`: C0 and C1 controls, DEL, and
the bidirectional overrides that reorder what is shown); prose fields may hold a tab or a line
break, one-line fields may not. Text that reaches the output from elsewhere (a file name, a URL,
an answer from the network) goes through `visible`, which writes those characters as escapes
(ESC as \\x1b) instead of passing them to the terminal.
"""

from __future__ import annotations

import re

# C0 controls but tab and line feed, DEL, C1 controls, and the bidirectional embeddings,
# overrides and isolates (U+202A-U+202E, U+2066-U+2069): the body of a regex character class,
# written with escapes that Python's re and pydantic's (Rust) regex both read.
CONTROL_CLASS = r"\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
CONTROL = re.compile(f"[{CONTROL_CLASS}]")
LINE_CONTROL = re.compile(f"[{CONTROL_CLASS}\\t\\n]")  # one-line text: no tab or line break either


def describe(char: str) -> str:
    """U+001B for a character, as a message names it."""
    return f"U+{ord(char):04X}"


def control_problem(value: str, one_line: bool = False) -> str | None:
    """Why `value` cannot be stored (a control or bidi character, and where), or None."""
    match = (LINE_CONTROL if one_line else CONTROL).search(value)
    if match is None:
        return None
    char = match.group()
    what = "a line break or tab" if char in "\t\n" else (
        "a bidirectional override" if "\u202a" <= char <= "\u2069" else "a control character")
    return f"holds {what} ({describe(char)}) at character {match.start() + 1}; write plain text"


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str, *, keep_newlines: bool = False) -> str:
    """`text` with every control and bidi character written as an escape (\\x1b, \\u202e)."""
    pattern = CONTROL if keep_newlines else LINE_CONTROL
    if keep_newlines:
        # Tabs are harmless; line feeds are kept. Everything else in the class is escaped.
        return pattern.sub(_escape, text)
    return pattern.sub(lambda m: m.group() if m.group() == "\t" else _escape(m), text)


_SAFE_URL = re.compile(r"https?://[^\s<>\"'`\\\x00-\x1f\x7f-\x9f]+", re.IGNORECASE | re.ASCII)


def safe_url(url: str | None) -> str | None:
    """`url` if it is a plain http(s) URL, brackets percent-encoded; None otherwise. The schema
    already says so, but the export holds to it whatever the data's origin (a cache, a caller)."""
    if not url or not _SAFE_URL.fullmatch(url):
        return None
    return url.replace("(", "%28").replace(")", "%29").replace("[", "%5B").replace("]", "%5D")


def counted(n: int, singular: str, plural: str | None = None) -> str:
    """'1 entry', '2 entries', '0 mismatches': a number and its noun, in the right number."""
    return f"{n} {singular if n == 1 else (plural or singular + 's')}"
