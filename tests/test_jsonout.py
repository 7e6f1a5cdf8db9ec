"""The fast JSON writer gives exactly what `json.dumps(..., indent=2)` gives."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.render.jsonout import dumps, dumps_listing

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()  # newlines, control characters, surrogates, Arabic
)
# Infinite keys named outright: `floats()` draws them too seldom as a dict's key for a bug
# in their text ("Infinity", not "inf") to be found in fewer than ~2,000 examples.
KEYS = (
    st.text()
    | st.integers()
    | st.booleans()
    | st.none()
    | st.floats(allow_nan=False)
    | st.sampled_from([math.inf, -math.inf, -0.0])
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.tuples(inner, inner)
        | st.dictionaries(KEYS, inner, max_size=5)
    ),
    max_leaves=40,
)


def reference(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


# Counts checked against hand-made bugs in jsonout (a key's text, a tuple, the indentation,
# a run not flushed, an empty dict, a listing's pieces): each was found on each of 20 seeds
# with 100 examples here and 50 in the listing test below.
@settings(max_examples=300)
@given(VALUES)
def test_same_text_as_the_standard_encoder(value: Any) -> None:
    assert dumps(value) == reference(value)


def test_a_listing_shape() -> None:
    value = {
        "posts": [
            {"id": 7, "body": "سطر\nline \u2028 🚀", "channels": ["main"], "airings": []},
            {"id": 8, "score": 1.5, "at": None, "airings": [{"id": 1, "pinned": True}]},
        ],
        "empty": {},
    }
    assert dumps(value) == reference(value)


@settings(max_examples=100)
@given(st.lists(VALUES, max_size=6))
def test_a_listing_written_in_pieces_is_the_same_text(items: list[Any]) -> None:
    assert "".join(dumps_listing("posts", iter(items))) == reference({"posts": items})
