"""The printable-ASCII shortcuts of `display_width`, `clip` and `clean` give what the slow
paths give."""

from __future__ import annotations

import string

import wcwidth
from hypothesis import given
from hypothesis import strategies as st

from scheduler.render import terminal
from scheduler.text import UNSAFE


def slow_clip(text: str, width: int) -> str:
    """`clip` by graphemes, as it is for every text that is not printable ASCII."""
    if int(wcwidth.width(text)) <= width:
        return text
    kept, used = [], 0
    for grapheme in wcwidth.iter_graphemes(text):
        cells = int(wcwidth.width(grapheme))
        if used + cells > width - 1:
            break
        kept.append(grapheme)
        used += cells
    return "".join(kept) + "…"


@given(st.text(alphabet=string.printable), st.integers(-2, 120))
def test_ascii_shortcut_matches_the_grapheme_path(text: str, width: int) -> None:
    assert terminal.display_width(text) == int(wcwidth.width(text))
    assert terminal.clip(text, width) == slow_clip(text, width)


@given(st.text(), st.integers(0, 40))
def test_any_text_still_clips_by_graphemes(text: str, width: int) -> None:
    assert terminal.clip(text, width) == slow_clip(text, width)


def slow_clean(text: str, *, keep_newlines: bool) -> str:
    """`clean` by its regex, as it is for every text that is not printable ASCII."""
    text = text.replace("\t", " ")
    if not keep_newlines:
        return UNSAFE.sub("", text)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(UNSAFE.sub("", line) for line in lines)


@given(st.text(alphabet=string.printable + "\x7f\x85\u202e\u2066é🦊", max_size=40), st.booleans())
def test_clean_shortcut_matches_the_regex(text: str, keep_newlines: bool) -> None:
    # Printable ASCII holds no control (tab, newline, CR and DEL are not printable), so it is
    # returned as it is; anything else goes through the regex.
    assert terminal.clean(text, keep_newlines=keep_newlines) == slow_clean(
        text, keep_newlines=keep_newlines
    )
