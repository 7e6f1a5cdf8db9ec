"""The fast JSON writer gives exactly what `json.dumps(..., indent=2)` gives."""

from __future__ import annotations

import json
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
KEYS = st.text() | st.integers() | st.booleans() | st.none() | st.floats(allow_nan=False)
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


@settings(max_examples=2000)
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


@settings(max_examples=300)
@given(st.lists(VALUES, max_size=6))
def test_a_listing_written_in_pieces_is_the_same_text(items: list[Any]) -> None:
    assert "".join(dumps_listing("posts", iter(items))) == reference({"posts": items})
