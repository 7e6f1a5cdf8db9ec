"""Text as people see it: grapheme counts, the measures platforms count length in, repost
bodies.

Each platform counts length its own way, and a post must be refused at queue time exactly
where the platform would refuse it (docs/design.md §7), not where a simpler count would.
Each platform's spec (`publishers/<platform>.py`) states its limits as `LengthRule`s over
the measures here: graphemes, UTF-8 bytes (Bluesky), UTF-16 code units (Telegram), and
Mastodon's own count, as `app/validators/status_length_validator.rb` does it (Mastodon 4):
every link (`https://…` as twitter-text finds it, with Mastodon's own path rules from
`config/initializers/twitter_regex.rb`) counts as 23 characters whatever its length, a
mention `@user@server` counts as `@user`, and the rest is counted in extended grapheme
clusters (`each_grapheme_cluster.size`): Mastodon counts graphemes, not code points.

Graphemes are `regex`'s `\\X`, so an Arabic letter with its marks or a family emoji of seven
code points counts once.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from typing import Any

from .config import ChannelSettings
from .domain import AiringKind
from .platforms.spec import LengthRule

# C0 and C1 controls, DEL, and the explicit bidi embeddings, overrides and isolates: a stray
# PDI would close our own isolate early and an RLO would flip the rest of the line.
UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

MASTODON_URL_LENGTH = 23


@lru_cache(maxsize=1)
def _grapheme() -> Any:
    """Compiled on first use: `queue add` to a channel without a length limit skips it."""
    import regex

    return regex.compile(r"\X")


@lru_cache(maxsize=1)
def _mastodon_patterns() -> tuple[Any, Any]:
    """Mastodon's link and mention patterns, translated from Ruby.

    Links: twitter-text's `valid_url` with a protocol (`extract_url_without_protocol: false`)
    and Mastodon's overrides of the path and query rules: a path runs to the first space,
    `<`, `>` or `?`, may hold balanced parentheses, and does not end on punctuation such as
    `.` `,` `!` `:`; a query ends on a letter, digit or `_&=#/-`. One approximation: the
    top-level domain is not checked against twitter-text's list of TLDs.
    Mentions: `Account::MENTION_RE`, refused by `Extractor` when followed by `@`, a Latin
    accented letter or `://`.
    """
    import regex

    general = r"[^\s<>()?]"
    balanced = rf"\((?:{general}+|{general}*\({general}+\){general}*)\)"
    ending = rf"(?:[^\s()?!*\"'「」<>;:=,.$%\[\]~&|@]|{balanced})"
    path = rf"(?:{general}*(?:{balanced}{general}*)*{ending}|{general}+/)"
    label = r"[^\s\p{P}\p{S}\p{Cc}\p{Cf}]"  # twitter-text's DOMAIN_VALID_CHARS, roughly
    tld = r"(?:xn--[0-9a-z]+|\p{L}{2,})(?![0-9a-z@+-])"
    domain = rf"(?:{label}(?:(?:[_-]|{label})*{label})?\.)+{tld}"
    uchars = r"\u00a0-\ud7ff\uf900-\ufdcf\ufdf0-\uffef\U00010000-\U0010fffd"
    query = rf"\?[a-z0-9!?*'();:&=+$/%#\[\]\-_.,~|@^{uchars}]*[a-z0-9_&=#/\-{uchars}]"
    url = regex.compile(
        rf"(?<![a-z0-9@＠$#＃])(?:https?|dat|dweb|ipfs|ipns|ssb|gopher|gemini)://"
        rf"{domain}(?::[0-9]+)?(?:/{path}*)?(?:{query})?",
        regex.IGNORECASE,
    )
    mention = regex.compile(
        r"(?<![=/\w])@(([a-z0-9_]+(?:[a-z0-9_.-]+[a-z0-9_]+)?)(?:@[\w.-]+\w)?)"
        r"(?![@＠\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff\u0100-\u024f\u0253\u0254\u0256"
        r"\u0257\u0259\u025b\u0263\u0268\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f"
        r"\u1e00-\u1eff]|://)",
        regex.IGNORECASE,
    )
    return url, mention


def graphemes(text: str) -> int:
    return len(_grapheme().findall(text))


def utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def mastodon_length(text: str) -> int:
    """The length Mastodon's `StatusLengthValidator` gives `text` (no content warning)."""
    url, mention = _mastodon_patterns()
    # (start, end, replacement); a later entity overlapping an earlier one is dropped, as
    # twitter-text's `remove_overlapping_entities` does.
    entities = [(m.start(), m.end(), "x" * MASTODON_URL_LENGTH) for m in url.finditer(text)]
    entities += [(m.start(), m.end(), "@" + m.group(2)) for m in mention.finditer(text)]
    countable, position = [], 0
    for start, end, replacement in sorted(entities):
        if start < position:
            continue
        countable += [text[position:start], replacement]
        position = end
    countable.append(text[position:])
    return graphemes("".join(countable))


def length_rules(channel: ChannelSettings, *, media: bool = False) -> tuple[LengthRule, ...]:
    """The queue-time limits of docs/design.md §7 for a channel, as its platform's spec
    declares them; empty where there are none.

    `media`: the post carries media, which on Telegram makes the body a photo's caption.
    """
    return channel.platform.length_rules(channel.options, media)


def length_problem(body: str, channel: ChannelSettings, *, media: bool = False) -> str | None:
    """Why `body` is too long for `channel` (the first limit it breaks), or None when it fits.

    The message names the size, the unit and the limit, e.g. "the body is 7188 bytes long in
    UTF-8; channel 'sky' (bluesky) accepts at most 3000".
    """
    for rule in length_rules(channel, media=media):
        length = rule.measure(body)
        if length > rule.limit:
            return (
                f"the body is {length} {rule.unit} long{rule.how}; channel {channel.name!r} "
                f"({channel.publisher}) accepts at most {rule.limit}"
            )
    return None


@lru_cache(maxsize=64)
def _repost_template(source: str) -> Any:
    from jinja2 import Environment, StrictUndefined

    # Bodies are sent as plain text, not HTML: no autoescape here (previews escape on their own).
    return Environment(autoescape=False, undefined=StrictUndefined).from_string(source)


def airing_body(
    body: str, kind: str, channel: ChannelSettings, *, first_at: datetime | None
) -> str:
    """The text an airing sends: a repost goes through the channel's `repost.template`.

    The template sees `body` and `first_aired`: the date, in the channel's zone, of the
    post's first airing on the channel (`first_at`), or "" when there is none.
    """
    template = channel.repost.template
    if kind != AiringKind.repost or not template:
        return body
    first_aired = first_at.astimezone(channel.timezone).date().isoformat() if first_at else ""
    return str(_repost_template(template).render(body=body, first_aired=first_aired))
