"""The fast JSON writer gives exactly what `json.dumps(..., indent=2)` gives, and what the
commands print of it escapes what a terminal would act on."""

from __future__ import annotations

import io
import json
import math
from enum import IntEnum, StrEnum
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.render.jsonout import dumps, dumps_listing
from scheduler.render.terminal import json_text, write_json_listing

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


# A list of non-empty dicts of scalars is written in one C call whose joints between the
# records are rewritten (jsonout._write_records); the strategy above draws such lists seldom.
FLAT_RECORDS = st.lists(st.dictionaries(KEYS, SCALARS, min_size=1, max_size=4), max_size=5)


@settings(max_examples=200)
@given(FLAT_RECORDS, st.integers(min_value=0, max_value=3))
def test_a_list_of_flat_records_is_the_same_text(records: list[Any], depth: int) -> None:
    value: Any = records
    for _ in range(depth):  # nested under a key and in a list, as airings are
        value = {"airings": value, "more": [value]}
    assert dumps(value) == reference(value)


def test_text_that_looks_like_the_joint_between_records_is_kept() -> None:
    # Each body spells a joint of `_write_records` as text (`}` `,` newline, the indentation,
    # `{`), which JSON writes with `\n`; a raw one would be reindented.
    joint = "},\n    {"
    records = [
        {"id": 1, "body": joint},
        {"id": 2, "body": "}"},
        {"id": 3, "body": "{" + joint + "}", "n": None},
        {"id": 4, "end": "}]"},
    ]
    for value in (records, tuple(records), {"airings": records}, [records, records]):
        assert dumps(value) == reference(value)


def test_records_are_joined_across_the_thousands_they_are_encoded_by() -> None:
    for count in (999, 1000, 1001, 2500):
        records = [{"id": n, "body": "}," if n % 2 else "{"} for n in range(count)]
        for value in (records, {"airings": records}):
            assert dumps(value) == reference(value)


def test_records_beside_other_items_are_walked() -> None:
    # Not a list of flat records: an empty one, a nested list, a scalar among them.
    for value in (
        [{"a": 1}, {}],
        [{"a": 1}, {"b": []}],
        [{"a": 1}, {"b": [1]}],
        [{"a": 1}, 2],
        [{"a": {"b": 1}}, {"a": 1}],
    ):
        assert dumps(value) == reference(value)


def test_string_enums_and_int_subclasses_read_as_their_values() -> None:
    class Status(StrEnum):
        planned = "planned"

    class Count(IntEnum):
        one = 1

    value = {"airings": [{"status": Status.planned, "n": Count.one}] * 2, "s": [Status.planned]}
    assert dumps(value) == reference(value)


def test_keys_that_are_equal_in_a_dict_keep_their_own_text() -> None:
    # 1, 1.0 and True are one key to a dict, and so are 0.0 and -0.0, but not in JSON.
    for key in (1, 1.0, True, 1, True, 0.0, -0.0, 0, False):
        value = {key: [1, 2]}
        assert dumps(value) == reference(value)


RAW = "\x7f\x85\u2028\u202e\u2066"  # DEL, a C1 control, a line separator, bidi controls


def printed(value: Any) -> str:
    """What the commands print: each of RAW written as its `\\uXXXX` escape."""
    text = reference(value)
    for char in RAW:
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text


def test_printed_json_escapes_what_a_terminal_acts_on() -> None:
    # ASCII text skips the escaping regex unless it holds a DEL, the one ASCII character
    # of RAW: each case here takes one of the two ways.
    for body in ("plain ASCII", "a DEL \x7f alone", "C1 \x85", "é \u2028 🚀", "\u202eevil\u2066"):
        value = {"airings": [{"body": body, "n": 1}], "body": body}
        text = json_text(value)
        assert text == printed(value)
        assert json.loads(text) == value
        assert not any(char in text for char in RAW)


def test_a_listing_is_escaped_in_every_batch() -> None:
    # Written 500 items at a time: a raw character in a later batch, and in the last one.
    items = [{"id": n, "body": "ascii"} for n in range(1201)]
    items[700]["body"] = "DEL \x7f"
    items[1200]["body"] = "bidi \u202e"
    stream = io.StringIO()
    write_json_listing("posts", items, stream)
    assert stream.getvalue() == printed({"posts": items}) + "\n"
