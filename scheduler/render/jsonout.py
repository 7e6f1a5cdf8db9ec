"""JSON as `json.dumps(value, ensure_ascii=False, indent=2)` writes it, only faster.

With `indent`, the standard library falls back to its pure-Python encoder, which was a
third of `simulate --format json` and half of `queue list --format json` on big libraries.
Without `indent` its C encoder accepts any separators, so a container whose items are all
scalars (an airing, a post's fields, a list of ids) is written by the C encoder with the
newline and indentation as its item separator; only the nesting above those is walked here.
The output is byte for byte what `json.dumps(..., indent=2)` gives (a property test checks).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from functools import cache
from typing import Any

INDENT = "  "
_SCALARS = (str, int, float, bool, type(None))
_CONTAINERS = (dict, list, tuple)


def dumps(value: Any) -> str:
    """`json.dumps(value, ensure_ascii=False, indent=2)`, byte for byte."""
    parts: list[str] = []
    _write(value, 0, parts)
    return "".join(parts)


def _write(value: Any, depth: int, parts: list[str]) -> None:
    if isinstance(value, dict):
        items: Any = value.values()
    elif isinstance(value, list | tuple):
        items = value
    else:
        parts.append(_encoder(depth).encode(value))
        return
    if not value:
        parts.append("{}" if isinstance(value, dict) else "[]")
        return
    inner = "\n" + INDENT * (depth + 1)
    if all(_is_flat(item) for item in items):
        flat = _encoder(depth).encode(value)
        parts += [flat[0], inner, flat[1:-1], "\n", INDENT * depth, flat[-1]]
        return
    # Mixed: each run of flat items is still one C call (a post's id, body and kind, then
    # its times and status), written as the inside of a container of just those items;
    # only the nested containers between the runs are walked here.
    encoder = _encoder(depth)
    separator = inner
    if isinstance(value, dict):
        parts.append("{")
        run: dict[Any, Any] = {}
        for key, item in value.items():
            if _is_flat(item):
                run[key] = item
                continue
            if run:
                parts += [separator, encoder.encode(run)[1:-1]]
                separator, run = "," + inner, {}
            parts += [separator, encoder.encode(_key(key)), ": "]
            _write(item, depth + 1, parts)
            separator = "," + inner
        if run:
            parts += [separator, encoder.encode(run)[1:-1]]
        parts += ["\n", INDENT * depth, "}"]
    else:
        parts.append("[")
        flat_run: list[Any] = []
        for item in value:
            if _is_flat(item):
                flat_run.append(item)
                continue
            if flat_run:
                parts += [separator, encoder.encode(flat_run)[1:-1]]
                separator, flat_run = "," + inner, []
            parts.append(separator)
            _write(item, depth + 1, parts)
            separator = "," + inner
        if flat_run:
            parts += [separator, encoder.encode(flat_run)[1:-1]]
        parts += ["\n", INDENT * depth, "]"]


def _is_flat(item: Any) -> bool:
    """Written by the C encoder as it is: a scalar, or an empty container (`[]` and `{}`
    read the same in both encoders)."""
    return isinstance(item, _SCALARS) or (not item and isinstance(item, _CONTAINERS))


def dumps_listing(key: str, items: Iterable[Any]) -> Iterator[str]:
    """`dumps({key: list(items)})` in pieces, one item at a time, so a listing of 100,000
    posts is never held whole as one text."""
    head = "{\n" + INDENT + _encoder(0).encode(key) + ": "
    empty = True
    for item in items:
        parts = [head + "[" if empty else ",", "\n" + INDENT * 2]
        _write(item, 2, parts)
        yield "".join(parts)
        empty = False
    yield head + "[]\n}" if empty else "\n" + INDENT + "]\n}"


@cache
def _encoder(depth: int) -> json.JSONEncoder:
    """The C encoder for a container of scalars at `depth` (json.dumps makes one per call)."""
    inner = "\n" + INDENT * (depth + 1)
    return json.JSONEncoder(ensure_ascii=False, separators=("," + inner, ": "))


def _key(key: Any) -> str:
    """Keys as the standard encoder turns them into strings."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool | float | type(None)):
        return json.dumps(key)
    if isinstance(key, int):
        return int.__repr__(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")
