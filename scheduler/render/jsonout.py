"""JSON as `json.dumps(value, ensure_ascii=False, indent=2)` writes it, only faster.

With `indent`, the standard library falls back to its pure-Python encoder, which was a
third of `simulate --format json` and half of `queue list --format json` on big libraries.
Without `indent` its C encoder accepts any separators, so a container whose items are all
scalars (an airing, a post's fields, a list of ids) is written by the C encoder with the
newline and indentation as its item separator; only the nesting above those is walked here.
A list of such records (a calendar's or a simulation's airings) is one C call too: see
`_write_records`. The output is byte for byte what `json.dumps(..., indent=2)` gives (a property
test checks).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from itertools import chain
from json.encoder import encode_basestring
from typing import Any

INDENT = "  "
_SCALARS = (str, int, float, bool, type(None))
_SCALAR_TYPES = frozenset(_SCALARS)


def dumps(value: Any) -> str:
    """`json.dumps(value, ensure_ascii=False, indent=2)`, byte for byte."""
    parts: list[str] = []
    _write(value, 0, parts)
    return "".join(parts)


def _write(value: Any, depth: int, parts: list[str]) -> None:
    if isinstance(value, dict):
        if value:
            _write_dict(value, depth, parts)
        else:
            parts.append("{}")
    elif isinstance(value, list | tuple):
        if not value:
            parts.append("[]")
        elif _all_scalars(value):
            flat = _encode(value, depth)
            parts += ["[\n", INDENT * (depth + 1), flat[1:-1], "\n", INDENT * depth, "]"]
        elif _all_records(value):
            _write_records(value, depth, parts)
        else:
            _write_list(value, depth, parts)
    else:
        parts.append(_encode(value, depth))


# Mixed containers: each run of flat items is one C call (a post's id, body and kind, then
# its times and status), written as the inside of a container of just those items; only
# the nested containers between the runs are walked here. An item is flat when the C
# encoder writes it as it is: a scalar, or anything empty (`[]` and `{}` read the same in
# both encoders; an empty value of another type fails in both alike). The test is written
# out in the loops, not called: it runs for every field of 100,000 posts.


def _write_dict(value: dict[Any, Any], depth: int, parts: list[str]) -> None:
    """A non-empty dict. One whose values are all flat is one run: the C encoder's text."""
    inner = "\n" + INDENT * (depth + 1)
    separator = inner
    parts.append("{")
    run: dict[Any, Any] = {}
    for key, item in value.items():
        if type(item) in _SCALAR_TYPES or not item:
            run[key] = item
            continue
        if run:
            parts += [separator, _encode(run, depth)[1:-1]]
            separator, run = "," + inner, {}
        parts += [separator, _key_text(key), ": "]
        _write(item, depth + 1, parts)
        separator = "," + inner
    if run:
        parts += [separator, _encode(run, depth)[1:-1]]
    parts += ["\n", INDENT * depth, "}"]


def _write_list(value: list[Any] | tuple[Any, ...], depth: int, parts: list[str]) -> None:
    """A non-empty list or tuple holding at least one nested container."""
    inner = "\n" + INDENT * (depth + 1)
    separator = inner
    parts.append("[")
    run: list[Any] = []
    for item in value:
        if type(item) in _SCALAR_TYPES or not item:
            run.append(item)
            continue
        if run:
            parts += [separator, _encode(run, depth)[1:-1]]
            separator, run = "," + inner, []
        parts.append(separator)
        _write(item, depth + 1, parts)
        separator = "," + inner
    if run:
        parts += [separator, _encode(run, depth)[1:-1]]
    parts += ["\n", INDENT * depth, "]"]


def _all_scalars(items: Iterable[Any]) -> bool:
    """Are all `items` scalars (subclasses too: a StrEnum is written as its text by both
    encoders)? Their types are gathered in C, so the Python check is per type, not item."""
    return all(issubclass(kind, _SCALARS) for kind in set(map(type, items)))


def _all_records(items: list[Any] | tuple[Any, ...]) -> bool:
    """Are all `items` non-empty dicts of scalars (the airings of a calendar)?"""
    return (
        all(type(item) is dict for item in items)
        and all(items)
        and _all_scalars(chain.from_iterable(map(dict.values, items)))
    )


def _write_records(records: list[Any] | tuple[Any, ...], depth: int, parts: list[str]) -> None:
    """A list of non-empty dicts of scalars at `depth`, a thousand records per C call.

    The C encoder writes a list of records with the records' item separator (a comma, a
    newline and their fields' indentation) everywhere, also between the records, and
    without the newlines that open and close each container. Where one record ends and the
    next begins, it writes `}` then that separator then `{`, and nowhere else: an encoded
    string never holds a raw newline (it is written `\\n`), and a scalar never ends with
    `}`. So those joints, the first `[{` and the last `}]` are rewritten with the list's own
    indentation, and the fields inside are already right. A thousand at a time, because
    each step copies the text: all 74,000 airings of a simulation at once held four copies
    of 28 MB.
    """
    outer = "\n" + INDENT * (depth + 1)
    fields = "\n" + INDENT * (depth + 2)
    joint = outer + "}," + outer + "{" + fields
    separator = "[" + outer + "{" + fields
    for first in range(0, len(records), 1000):
        text = _encode(records[first : first + 1000], depth + 1)  # `[{` … `},` fields `{` … `}]`
        parts += [separator, text[2:-2].replace("}," + fields + "{", joint)]
        separator = joint
    parts += [outer, "}\n", INDENT * depth, "]"]


def dumps_listing(key: str, items: Iterable[Any]) -> Iterator[str]:
    """`dumps({key: list(items)})` in pieces, one item at a time, so a listing of 100,000
    posts is never held whole as one text."""
    head = "{\n" + INDENT + _encode(key, 0) + ": "
    empty = True
    for item in items:
        parts = [head + "[" if empty else ",", "\n" + INDENT * 2]
        _write(item, 2, parts)
        yield "".join(parts)
        empty = False
    yield head + "[]\n}" if empty else "\n" + INDENT + "]\n}"


def _encode(value: Any, depth: int) -> str:
    """`value` by the C encoder, with the item separator of a container at `depth`."""
    return "".join(_encoder(depth)(value, 0))


@cache
def _encoder(depth: int) -> Callable[[Any, int], Iterable[str]]:
    """The C encoder for a container of scalars at `depth`, called directly:
    `JSONEncoder.encode` makes a new one on every call, a tenth of
    `queue list --format json` at 100,000 posts (a few calls per post)."""
    standard = json.JSONEncoder(ensure_ascii=False, separators=(",\n" + INDENT * (depth + 1), ": "))
    # The standard library's own C encoder (what `json.dumps` calls); None where the _json
    # module is missing, and then the standard encoder, slower, gives the same text.
    make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if make_encoder is None:
        return lambda value, _: [standard.encode(value)]
    return make_encoder(  # type: ignore[no-any-return]
        None,  # markers: a container of scalars can't hold itself
        standard.default,
        encode_basestring,
        None,  # indent: none, which is what keeps the C encoder
        standard.key_separator,
        standard.item_separator,
        False,  # sort_keys
        False,  # skipkeys
        True,  # allow_nan, as json.dumps
    )


def _key_text(key: Any) -> str:
    """A key as the standard encoder writes it."""
    return encode_basestring(key) if isinstance(key, str) else _encode(_key(key), 0)


def _key(key: Any) -> str:
    """Keys as the standard encoder turns them into strings."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool | float | type(None)):
        return json.dumps(key)
    if isinstance(key, int):
        return int.__repr__(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")
