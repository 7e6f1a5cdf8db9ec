"""Bluesky facets: the cases of atproto's own test suite, then Arabic and emoji around them.

The tables below are ported from `packages/api/tests/rich-text-detection.test.ts` in
github.com/bluesky-social/atproto (commit d6296a1): the same inputs, the same expected
segments and byte ranges. Cases that depend on the app's list of top-level domains (bare
`example.com` links) are kept too, with the plain text this scheduler deliberately makes
(see `scheduler/publishers/facets.py`).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.publishers.facets import detect, is_handle, record_facets
from tests.fakeplatforms import _facet_problem


def fake_did(handle: str) -> str | None:
    """The atproto test's resolver: every handle resolves to `did:fake:<handle>`."""
    return f"did:fake:{handle}"


def segments(text: str, facets: list[dict[str, Any]]) -> list[list[str]]:
    """The text cut at the facets' byte ranges, as atproto's `RichText.segments()` cuts it:
    plain runs as `[text]`, faceted runs as `[text, did | uri | tag]`."""
    raw = text.encode("utf-8")
    out: list[list[str]] = []
    position = 0
    for facet in facets:
        start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
        if start > position:
            out.append([raw[position:start].decode("utf-8")])
        (feature,) = facet["features"]
        value = feature.get("did") or feature.get("uri") or feature.get("tag")
        out.append([raw[start:end].decode("utf-8"), value])
        position = end
    if position < len(raw):
        out.append([raw[position:].decode("utf-8")])
    return out


FAMILY = "👨‍👩‍👧‍👧"
SOCKET3 = "https://socket3.wordpress.com/2018/02/03/designing-windows-95s-user-interface/"

MENTIONS_AND_LINKS: list[tuple[str, list[list[str]]]] = [
    ("no mention", [["no mention"]]),
    ("@handle.com middle end", [["@handle.com", "did:fake:handle.com"], [" middle end"]]),
    ("start @handle.com end", [["start "], ["@handle.com", "did:fake:handle.com"], [" end"]]),
    ("start middle @handle.com", [["start middle "], ["@handle.com", "did:fake:handle.com"]]),
    (
        "@handle.com @handle.com @handle.com",
        [
            ["@handle.com", "did:fake:handle.com"],
            [" "],
            ["@handle.com", "did:fake:handle.com"],
            [" "],
            ["@handle.com", "did:fake:handle.com"],
        ],
    ),
    ("@full123-chars.test", [["@full123-chars.test", "did:fake:full123-chars.test"]]),
    ("not@right", [["not@right"]]),
    ("@handle.com!@#$chars", [["@handle.com", "did:fake:handle.com"], ["!@#$chars"]]),
    (
        "@handle.com\n@handle.com",
        [["@handle.com", "did:fake:handle.com"], ["\n"], ["@handle.com", "did:fake:handle.com"]],
    ),
    (
        "parenthetical (@handle.com)",
        [["parenthetical ("], ["@handle.com", "did:fake:handle.com"], [")"]],
    ),
    (
        f"{FAMILY} @handle.com {FAMILY}",
        [[f"{FAMILY} "], ["@handle.com", "did:fake:handle.com"], [f" {FAMILY}"]],
    ),
    ("start https://middle.com end", [["start "], ["https://middle.com"] * 2, [" end"]]),
    (
        "start https://middle.com/foo/bar?baz=bux#hash end",
        [["start "], ["https://middle.com/foo/bar?baz=bux#hash"] * 2, [" end"]],
    ),
    (
        "https://start.com/foo/bar?baz=bux#hash middle end",
        [["https://start.com/foo/bar?baz=bux#hash"] * 2, [" middle end"]],
    ),
    (
        "https://newline1.com\nhttps://newline2.com",
        [["https://newline1.com"] * 2, ["\n"], ["https://newline2.com"] * 2],
    ),
    (
        f"{FAMILY} https://middle.com {FAMILY}",
        [[f"{FAMILY} "], ["https://middle.com"] * 2, [f" {FAMILY}"]],
    ),
    (
        f"Classic article {SOCKET3} ",
        [["Classic article "], [SOCKET3] * 2, [" "]],
    ),
    (
        "https://foo.com https://bar.com/whatever https://baz.com",
        [
            ["https://foo.com"] * 2,
            [" "],
            ["https://bar.com/whatever"] * 2,
            [" "],
            ["https://baz.com"] * 2,
        ],
    ),
    (
        "punctuation https://foo.com, https://bar.com/whatever; https://baz.com.",
        [
            ["punctuation "],
            ["https://foo.com"] * 2,
            [", "],
            ["https://bar.com/whatever"] * 2,
            ["; "],
            ["https://baz.com"] * 2,
            ["."],
        ],
    ),
    ("parenthentical (https://foo.com)", [["parenthentical ("], ["https://foo.com"] * 2, [")"]]),
    (
        "except for https://foo.com/thing_(cool)",
        [["except for "], ["https://foo.com/thing_(cool)"] * 2],
    ),
    # The app's "not a URL" cases stay plain here too.
    ("not.. a..url ..here", [["not.. a..url ..here"]]),
    ("e.g.", [["e.g."]]),
    ("something-cool.jpg", [["something-cool.jpg"]]),
    ("website.com.jpg/foo", [["website.com.jpg/foo"]]),
    # Deliberate difference: the app links bare domains (it ships a TLD list); we don't.
    ("start middle.com end", [["start middle.com end"]]),
    ("a trailing bsky.app: colon", [["a trailing bsky.app: colon"]]),
]


@pytest.mark.parametrize(("text", "expected"), MENTIONS_AND_LINKS)
def test_mentions_and_links_as_the_bluesky_app_finds_them(
    text: str, expected: list[list[str]]
) -> None:
    assert segments(text, record_facets(text, fake_did)) == expected


TAGS: list[tuple[str, list[str], list[tuple[int, int]]]] = [
    ("#a", ["a"], [(0, 2)]),
    ("#a #b", ["a", "b"], [(0, 2), (3, 5)]),
    ("#1", [], []),
    ("#1a", ["1a"], [(0, 3)]),
    ("body #tag body", ["tag"], [(5, 9)]),
    ("body #1", [], []),
    ("body #a1", ["a1"], [(5, 8)]),
    ("#", [], []),
    ("#?", [], []),
    ("text # text", [], []),
    (
        "body #thisisa64characterstring_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ["thisisa64characterstring_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"],
        [(5, 70)],
    ),
    ("body #thisisa65characterstring_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", [], []),
    (
        "body #thisisa64characterstring_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!",
        ["thisisa64characterstring_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"],
        [(5, 70)],
    ),
    ("its a #double#rainbow", ["double#rainbow"], [(6, 21)]),
    ("##hashash", ["#hashash"], [(0, 9)]),
    ("##", [], []),
    ("some #n0n3s@n5e!", ["n0n3s@n5e"], [(5, 15)]),
    ("works #with,punctuation", ["with,punctuation"], [(6, 23)]),
    (
        "strips trailing #punctuation, #like. #this!",
        ["punctuation", "like", "this"],
        [(16, 28), (30, 35), (37, 42)],
    ),
    ("strips #multi_trailing___...", ["multi_trailing"], [(7, 22)]),
    ("works with #🦋 emoji, and #butter🦋fly", ["🦋", "butter🦋fly"], [(11, 16), (28, 42)]),
    ("this #\ufe0f\u20e3tag should not be a tag", [], []),
    ("this ##\ufe0f\u20e3tag should be a tag", ["#\ufe0f\u20e3tag"], [(5, 16)]),
    ("this #t\nag should be a tag", ["t"], [(5, 7)]),
    ("no match (\\u200B): #\u200b", [], []),
    ("no match (\\u200Ba): #\u200ba", [], []),
    ("match (a\\u200Bb): #a\u200bb", ["a"], [(18, 20)]),
    ("match (ab\\u200B): #ab\u200b", ["ab"], [(18, 21)]),
    ("no match (\\u20e2tag): #\u20e2tag", [], []),
    ("no match (a\\u20e2b): #a\u20e2b", ["a"], [(21, 23)]),
    ("match full width number sign (tag): ＃tag", ["tag"], [(36, 42)]),
    ("match full width number sign (tag): ＃#\ufe0f\u20e3tag", ["#\ufe0f\u20e3tag"], [(36, 49)]),
    ("no match 1?: #1?", [], []),
]


@pytest.mark.parametrize(("text", "tags", "ranges"), TAGS)
def test_hashtags_as_the_bluesky_app_finds_them(
    text: str, tags: list[str], ranges: list[tuple[int, int]]
) -> None:
    facets = record_facets(text, fake_did)
    assert [f["features"][0]["tag"] for f in facets] == tags
    assert [(f["index"]["byteStart"], f["index"]["byteEnd"]) for f in facets] == ranges
    assert all(f["features"][0]["$type"] == "app.bsky.richtext.facet#tag" for f in facets)


# --- Arabic and emoji before the facets -------------------------------------------------

SKIN_TONE = "👋🏽"  # 8 bytes
FLAG = "🇸🇦"  # 8 bytes
WIKI = "https://en.wikipedia.org/wiki/Bluesky_(social_network)"


def spans(text: str) -> list[tuple[str, str, str]]:
    """(kind, the covered text, the value) of every facet, read back from the UTF-8 bytes."""
    raw = text.encode("utf-8")
    return [(f.kind, raw[f.byte_start : f.byte_end].decode("utf-8"), f.value) for f in detect(text)]


def test_offsets_are_utf8_bytes_after_arabic_and_every_kind_of_emoji() -> None:
    text = f"مرحبا {SKIN_TONE} {FAMILY} {FLAG} اقرأ ({WIKI}). تابعوا @brand.test و #أخبار_اليوم!"
    assert spans(text) == [
        ("link", WIKI, WIKI),
        ("mention", "@brand.test", "brand.test"),
        ("tag", "#أخبار_اليوم", "أخبار_اليوم"),
    ]
    (link,) = [f for f in detect(text) if f.kind == "link"]
    # Counted by hand: "مرحبا " is 11 bytes, the emoji 8 + 1 + 25 + 1 + 8 + 1, "اقرأ (" 10.
    assert link.byte_start == 11 + 9 + 26 + 9 + 9 + 1 == 65


def test_a_link_keeps_its_balanced_parenthesis_and_loses_trailing_punctuation() -> None:
    assert spans(f"See {WIKI}.") == [("link", WIKI, WIKI)]
    assert spans(f"(see {WIKI})") == [("link", WIKI, WIKI)]
    assert spans("(see https://example.org/a)") == [
        ("link", "https://example.org/a", "https://example.org/a")
    ]
    # As in the app: one punctuation mark is taken off, not a run of them.
    assert spans("wow https://example.org/a!!") == [
        ("link", "https://example.org/a!", "https://example.org/a!")
    ]


def test_arabic_punctuation_after_a_link_is_not_part_of_it() -> None:
    text = "شاهد https://a.example/x، ثم https://b.example؟"
    assert spans(text) == [
        ("link", "https://a.example/x", "https://a.example/x"),
        ("link", "https://b.example", "https://b.example"),
    ]


def test_hashtag_rules_for_arabic_text() -> None:
    # Arabic-Indic digits are not JavaScript's `\d`: in the app `#١٢٣` is a tag, `#123` isn't.
    assert spans("عدد #١٢٣ و #123") == [("tag", "#١٢٣", "١٢٣")]
    assert spans("#مرحبا، يا #عالم.") == [("tag", "#مرحبا", "مرحبا"), ("tag", "#عالم", "عالم")]
    # A tag starts only after whitespace or at the start: not inside a word or a URL.
    assert spans("a#b https://x.example/#frag") == [
        ("link", "https://x.example/#frag", "https://x.example/#frag")
    ]


def test_what_is_not_a_mention_or_a_link() -> None:
    assert spans("write to me@brand.test") == []
    assert spans("@-brand.test @brand @brand.123") == []  # not atproto handle syntax
    assert spans("HTTPS://EXAMPLE.ORG") == []  # as in the app, which tests `startsWith('http')`
    assert is_handle("alice.bsky.social") and not is_handle("alice")


def test_an_unresolvable_mention_stays_plain_text_and_facets_are_in_text_order() -> None:
    text = f"{FLAG} @ghost.example.com hi @brand.test #tag https://x.example"
    asked: list[str] = []

    def resolve(handle: str) -> str | None:
        asked.append(handle)
        return "did:plc:brand" if handle == "brand.test" else None

    facets = record_facets(text, resolve)
    assert asked == ["ghost.example.com", "brand.test"]
    assert segments(text, facets) == [
        [f"{FLAG} @ghost.example.com hi "],
        ["@brand.test", "did:plc:brand"],
        [" "],
        ["#tag", "tag"],
        [" "],
        ["https://x.example", "https://x.example"],
    ]
    assert facets[0]["features"] == [
        {"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:brand"}
    ]


# --- any mix of scripts and emoji: every range lands on the text it names ----------------

PIECES = [
    "مرحبا",
    "سَلَامٌ",
    "١٢٣",
    FAMILY,
    SKIN_TONE,
    FLAG,
    "\u200b",
    "e\u0301",
    WIKI,
    "https://x.example/a?b=1",
    "#tag",
    "＃وسم",
    "#123",
    "@brand.test",
    "@ghost.example.com",
    "(",
    ")",
    ".",
    "،",
    "!",
]


@given(st.lists(st.sampled_from(PIECES), max_size=30), st.lists(st.sampled_from([" ", "", "\n"])))
@settings(max_examples=300, deadline=None)
def test_every_facet_covers_exactly_its_value_whatever_comes_before(
    pieces: list[str], separators: list[str]
) -> None:
    text = "".join(
        p + (separators[i] if i < len(separators) else " ") for i, p in enumerate(pieces)
    )
    raw = text.encode("utf-8")
    for facet in detect(text):
        assert 0 <= facet.byte_start < facet.byte_end <= len(raw)
        covered = raw[facet.byte_start : facet.byte_end].decode("utf-8")  # raises off a boundary
        if facet.kind == "link":
            assert covered == facet.value
        elif facet.kind == "mention":
            assert covered == "@" + facet.value
        else:
            assert covered[0] in "#＃" and covered[1:] == facet.value
    for facet_json in record_facets(text, fake_did):
        assert _facet_problem(facet_json, raw) is None  # the fake PDS's own, separate check
