"""Bluesky rich-text facets: links, mentions and hashtags at UTF-8 byte offsets (docs/design.md §7).

A Bluesky post is plain text plus *facets*: byte ranges of the UTF-8 text that carry a
feature (`app.bsky.richtext.facet#link`, `#mention`, `#tag`). The PDS does not find them;
the client must, and the official app finds them with the regexes of
`packages/api/src/rich-text/detection.ts` and `util.ts` in github.com/bluesky-social/atproto
(read at commit d6296a1, August 2026). This module follows those regexes so a post made
here is linked where one made in the app would be, with these translations from JavaScript:

- JavaScript's `\\s` (and `\\S`) is its own whitespace set, which is not Python's:
  `_SPACE` spells it out.
- JavaScript's `\\d` is ASCII even in `u` mode, so an Arabic-Indic `#١٢٣` *is* a tag, as in
  the app; `\\b` in the mention regex (no `u` flag) is an ASCII word boundary.
- Offsets: JavaScript counts UTF-16 units and converts with `utf16IndexToUtf8Index`;
  here indexes are code points, converted by encoding the prefix. Same bytes either way.

Where this deliberately differs from the app, and why:

- Only `http(s)://` links. The app also links bare domains (`example.com`) by checking a
  list of ~1,500 top-level domains we don't ship; an editor who wants a link writes it.
- A mention candidate is checked against the atproto handle syntax instead of that TLD
  list. `com.atproto.identity.resolveHandle` decides anyway: a handle it can't resolve stays
  plain text, as in the app.
- A trailing `)` is dropped when the link's parentheses don't balance; the app drops it
  only when the link has no `(` at all, so `(see …/Bluesky_(social_network))` would link
  to a page that doesn't exist. Every case of the app's own tests comes out the same.
- A link's trailing Arabic comma, semicolon or question mark (`،` `؛` `؟`) is stripped like
  their ASCII forms: the app only knows `.,;:!?`, and a link ending in `،` is never what an
  Arabic editor meant (docs/design.md §1).
- Cashtags (`$AAPL`) are not detected: the design asks for links, mentions and hashtags.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import regex

FacetKind = Literal["link", "mention", "tag"]
FEATURE_TYPES = {
    "link": "app.bsky.richtext.facet#link",
    "mention": "app.bsky.richtext.facet#mention",
    "tag": "app.bsky.richtext.facet#tag",
}
MAX_TAG_GRAPHEMES = 64

# JavaScript's `\s`: ECMAScript WhiteSpace and LineTerminator code points (what `trim` strips).
_JS_SPACE = "\t\n\v\f\r \u00a0\u1680" + "".join(map(chr, range(0x2000, 0x200B)))
_JS_SPACE += "\u2028\u2029\u202f\u205f\u3000\ufeff"
_SPACE = "".join(f"\\u{ord(char):04x}" for char in _JS_SPACE)  # for a regex class
# What util.ts's TAG_REGEX also refuses inside a tag: soft hyphen and zero-width characters.
_ZERO_WIDTH = "\\u00ad\\u2060\\u200a\\u200b\\u200c\\u200d\\u20e2"
_LINK_END = ".,;:!?\u060c\u061b\u061f"  # the app's `[.,;:!?]`, plus Arabic , ; ?

# util.ts MENTION_REGEX: /(^|\s|\()(@)([a-zA-Z0-9.-]+)(\b)/g
_MENTION = regex.compile(rf"(^|[{_SPACE}]|\()(@)([a-zA-Z0-9.-]+)(?a:\b)")
# util.ts URL_REGEX, its `https?://` branch: /(^|\s|\()((https?:\/\/[\S]+)|…)/gim
_URL = regex.compile(rf"(^|[{_SPACE}]|\()(https?://[^{_SPACE}]+)", regex.IGNORECASE | regex.M)
# util.ts TAG_REGEX (`u` flag; `\d` is ASCII there).
_TAG = regex.compile(
    rf"(^|[{_SPACE}])[#\uff03]"
    rf"((?!\ufe0f)[^{_SPACE}{_ZERO_WIDTH}]*"
    rf"[^0-9{_SPACE}\p{{P}}{_ZERO_WIDTH}]+"
    rf"[^{_SPACE}{_ZERO_WIDTH}]*)?"
)
_TRAILING_PUNCTUATION = regex.compile(r"\p{P}+$")  # util.ts TRAILING_PUNCTUATION_REGEX
# packages/syntax/src/handle.ts HANDLE_REGEX, and its 253-character limit.
_HANDLE = regex.compile(
    r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$"
)
_GRAPHEME = regex.compile(r"\X")


@dataclass(frozen=True)
class Facet:
    """One detected span: `value` is the link's URI, the mention's handle or the tag's text."""

    byte_start: int
    byte_end: int
    kind: FacetKind
    value: str


def detect(text: str) -> list[Facet]:
    """Every link, mention and hashtag in `text`, ordered by where it starts.

    Mentions carry the handle (without `@`), still to be resolved to a DID.
    """
    offsets = _ByteOffsets(text)
    found = [*_mentions(text, offsets), *_links(text, offsets), *_tags(text, offsets)]
    return sorted(found, key=lambda facet: facet.byte_start)


def record_facets(text: str, resolve: Callable[[str], str | None]) -> list[dict[str, Any]]:
    """The `facets` array of an `app.bsky.feed.post` record for `text`.

    `resolve(handle)` gives the mentioned account's DID, or None when the handle does not
    resolve; such a mention stays plain text (no facet), as in the Bluesky app.
    """
    facets = []
    for facet in detect(text):
        feature: dict[str, Any] = {"$type": FEATURE_TYPES[facet.kind]}
        if facet.kind == "mention":
            did = resolve(facet.value)
            if did is None:
                continue
            feature["did"] = did
        elif facet.kind == "link":
            feature["uri"] = facet.value
        else:
            feature["tag"] = facet.value
        facets.append(
            {
                "index": {"byteStart": facet.byte_start, "byteEnd": facet.byte_end},
                "features": [feature],
            }
        )
    return facets


def is_handle(candidate: str) -> bool:
    """True for a syntactically valid atproto handle (`alice.bsky.social`)."""
    return len(candidate) <= 253 and _HANDLE.match(candidate) is not None


class _ByteOffsets:
    """Code point index -> UTF-8 byte offset, computed once per text."""

    def __init__(self, text: str) -> None:
        self._starts = [0]
        for char in text:
            self._starts.append(self._starts[-1] + len(char.encode("utf-8")))

    def __call__(self, index: int) -> int:
        return self._starts[index]


def _mentions(text: str, offsets: _ByteOffsets) -> list[Facet]:
    facets = []
    for match in _MENTION.finditer(text):
        handle = match.group(3)
        if not is_handle(handle):
            continue  # "probably not a handle", as detection.ts says
        start = match.start(2)  # the `@`
        facets.append(Facet(offsets(start), offsets(match.end(3)), "mention", handle))
    return facets


def _links(text: str, offsets: _ByteOffsets) -> list[Facet]:
    facets = []
    for match in _URL.finditer(text):
        uri = match.group(2)
        if not uri.startswith("http"):
            continue  # `HTTPS://…` falls to the app's bare-domain branch, which needs a TLD list
        start, end = match.start(2), match.end(2)
        # The app's two steps: one trailing punctuation mark, then a `)` that closes
        # nothing inside the URL (so `…/Bluesky_(social_network)` keeps its `)`).
        if uri[-1] in _LINK_END:
            uri, end = uri[:-1], end - 1
        if uri.endswith(")") and uri.count(")") > uri.count("("):
            uri, end = uri[:-1], end - 1
        facets.append(Facet(offsets(start), offsets(end), "link", uri))
    return facets


def _tags(text: str, offsets: _ByteOffsets) -> list[Facet]:
    facets = []
    for match in _TAG.finditer(text):
        tag = match.group(2)
        if not tag:
            continue
        tag = _TRAILING_PUNCTUATION.sub("", tag.strip(_JS_SPACE))
        if not tag or _graphemes(tag) > MAX_TAG_GRAPHEMES:
            continue
        start = match.start(0) + len(match.group(1))  # the `#` or `＃`
        facets.append(Facet(offsets(start), offsets(start + 1 + len(tag)), "tag", tag))
    return facets


def _graphemes(text: str) -> int:
    return len(_GRAPHEME.findall(text))
