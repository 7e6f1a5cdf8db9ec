"""The one terminal renderer: what text from outside may look like on a terminal or in a log.

Bodies, editor names, platform errors and URLs come from people and platforms we don't
control (docs/design.md §10). On a terminal, C0/C1 control characters and DEL can move the cursor,
retitle the window or ring the bell, and explicit bidi controls (an RLO) can reorder what is
shown around them, so every command that prints such text passes it through `clean` (they
are removed) and measures it with `display_width`; log lines pass through `escape_controls`
(they are shown as `\\x1b`, so the log still tells what arrived).
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Iterable
from typing import Any, TextIO

import wcwidth

from ..text import UNSAFE
from .jsonout import dumps, dumps_listing

FSI, PDI = "\u2068", "\u2069"
# Isolates are for a terminal that draws the text: when stdout is piped, a script or a file
# never receives invisible characters it didn't write. None: decided by stdout, once.
ISOLATE_RTL: bool | None = None
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# What `json.dumps(ensure_ascii=False)` leaves raw (it escapes only C0) but a terminal acts on.
_RAW_IN_JSON = re.compile(r"[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def clean(text: str, *, keep_newlines: bool = False) -> str:
    """`text` without control or bidi-override characters; a tab becomes a space.

    With `keep_newlines`, line breaks stay (a whole body shown on lines of its own); a CR
    LF or a lone CR counts as one.
    """
    if text.isascii() and text.isprintable():  # no control in it: most text, told in C
        return text
    text = text.replace("\t", " ")
    if not keep_newlines:
        return UNSAFE.sub("", text)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(UNSAFE.sub("", line) for line in lines)


def escape_controls(text: str, *, keep: str = "") -> str:
    """`text` with each unsafe character written as an escape (`\\n`, `\\x1b`, `\\u202e`),
    except those in `keep`: one log record stays one line, and nothing in it reaches the
    terminal or journal reader as a control."""

    def escaped(match: re.Match[str]) -> str:
        char = match.group()
        if char in keep:
            return char
        code = ord(char)
        return _NAMED_ESCAPES.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")

    return UNSAFE.sub(escaped, text)


def json_text(value: Any) -> str:
    """`value` as indented JSON that is safe to print: DEL, C1 controls, line separators and
    bidi controls are written as `\\uXXXX`, which is the same JSON value."""
    return _escape_raw(dumps(value))  # json.dumps(value, ensure_ascii=False, indent=2)


def write_json_listing(key: str, items: Iterable[Any], stream: TextIO) -> None:
    """`json_text({key: list(items)})` written to `stream` item by item (see `dumps_listing`),
    escaped and written a few hundred items at a time (one regex call and one write per
    item added 0.05-0.1 s to `queue list --format json` at 100,000 posts)."""
    batch: list[str] = []
    for piece in dumps_listing(key, items):
        batch.append(piece)
        if len(batch) == 500:
            stream.write(_escape_raw("".join(batch)))
            batch.clear()
    stream.write(_escape_raw("".join(batch)) + "\n")


def _escape_raw(text: str) -> str:
    # Of `_RAW_IN_JSON`'s characters only DEL is ASCII, and ASCII text is told in a pass at
    # memory speed: the regex's scan was 0.15-0.25 s of the 46 MB of 100,000 posts.
    if text.isascii() and "\x7f" not in text:
        return text
    return _RAW_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def first_line(text: str) -> str:
    """The first line of `text` that holds anything, stripped."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def display_width(text: str) -> int:
    """Terminal cells `text` takes: graphemes, wide CJK/emoji, zero-width isolates."""
    if text.isascii() and text.isprintable():  # one cell per character: most cells
        return len(text)
    return int(wcwidth.width(text))


def clip(text: str, width: int) -> str:
    """`text` cut to `width` terminal cells, by whole graphemes, with an ellipsis if cut."""
    if display_width(text) <= width:
        return text
    if text.isascii() and text.isprintable():  # each character one grapheme of one cell
        return text[: max(width - 1, 0)] + "…"
    kept, used = [], 0
    for grapheme in wcwidth.iter_graphemes(text):
        cells = display_width(grapheme)
        if used + cells > width - 1:
            break
        kept.append(grapheme)
        used += cells
    return "".join(kept) + "…"


def isolate(text: str) -> str:
    """Wrap a cell holding right-to-left letters in FIRST STRONG ISOLATE … POP DIRECTIONAL
    ISOLATE; other cells are returned as they are.

    Why isolates: in a terminal that applies the Unicode bidi algorithm, an Arabic cell next
    to the time or channel columns would join one right-to-left run with its neighbours and
    swap the columns around it. An isolate makes the cell one neutral block to the rest of
    the line, while inside it Arabic still reads right to left. Terminals without bidi
    support draw the isolates as nothing (zero width), so the columns still line up. Padding
    goes outside the isolate, and the body is the last column, so even a terminal that
    mishandles isolates can only disturb the text of that one cell, never the columns before
    it. Cells without right-to-left letters stay free of invisible characters.
    """
    wanted = _stdout_is_terminal() if ISOLATE_RTL is None else ISOLATE_RTL
    if wanted and any(unicodedata.bidirectional(char) in ("R", "AL") for char in text):
        return f"{FSI}{text}{PDI}"
    return text


@functools.cache
def _stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def cell(text: str, width: int | None = None) -> str:
    """Outside text as one table cell: its first line, cleaned, clipped, isolated."""
    line = clean(first_line(text))
    return isolate(clip(line, width) if width is not None else line)
