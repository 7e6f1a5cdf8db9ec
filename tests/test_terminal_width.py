"""The printable-ASCII shortcut of `display_width` and `clip` gives what wcwidth gives."""

from __future__ import annotations

import string

import wcwidth
from hypothesis import given
from hypothesis import strategies as st

from scheduler.render import terminal


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
