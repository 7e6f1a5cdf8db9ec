"""Text as people see it: grapheme counts, each platform's length rule, repost bodies.

Lengths count extended grapheme clusters (`regex`'s `\\X`), so an Arabic letter with its
marks or a family emoji made of seven code points counts once, as on Mastodon and Bluesky.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .config import ChannelSettings

MASTODON_URL_LENGTH = 23


@lru_cache(maxsize=1)
def _patterns() -> tuple[Any, Any, Any]:
    """Compiled on first use: `queue add` to a channel without a length limit skips it."""
    import regex

    grapheme = regex.compile(r"\X")
    # Mastodon counts every link as 23 characters, and a mention by its local part only.
    url = regex.compile(r"https?://[^\s<>\"']+", regex.IGNORECASE)
    remote_mention = regex.compile(r"(?<=^|[^\w/])(@[\w.]+)@[\w.-]+\w", regex.UNICODE)
    return grapheme, url, remote_mention


def graphemes(text: str) -> int:
    grapheme, _, _ = _patterns()
    return len(grapheme.findall(text))


def mastodon_length(text: str) -> int:
    _, url, remote_mention = _patterns()
    countable = url.sub("x" * MASTODON_URL_LENGTH, text)
    countable = remote_mention.sub(r"\1", countable)
    return graphemes(countable)


@dataclass(frozen=True)
class LengthRule:
    limit: int
    unit: str  # how the length is counted, for the error message
    links_count_23: bool = False

    def measure(self, text: str) -> int:
        return mastodon_length(text) if self.links_count_23 else graphemes(text)


def length_rule(channel: ChannelSettings) -> LengthRule | None:
    """The queue-time limit of DESIGN §7 for a channel, or None where there is none."""
    publisher = channel.publisher
    max_chars = channel.option("max_chars")
    if publisher == "mastodon":
        unit = f"characters (a link counts {MASTODON_URL_LENGTH})"
        return LengthRule(max_chars or 500, unit, links_count_23=True)
    if publisher == "bluesky":
        return LengthRule(300, "graphemes")
    if publisher == "telegram":
        return LengthRule(4096, "characters")
    if publisher == "webhook" and max_chars:
        return LengthRule(max_chars, "characters")
    return None


def length_problem(body: str, channel: ChannelSettings) -> str | None:
    """Why `body` is too long for `channel`, or None when it fits."""
    rule = length_rule(channel)
    if rule is None:
        return None
    length = rule.measure(body)
    if length <= rule.limit:
        return None
    return (
        f"the body is {length} {rule.unit} long; channel {channel.name!r} "
        f"({channel.publisher}) accepts at most {rule.limit}"
    )


@lru_cache(maxsize=64)
def _repost_template(source: str) -> Any:
    from jinja2 import Environment, StrictUndefined

    # Bodies are sent as plain text, not HTML: no autoescape here (previews escape on their own).
    return Environment(autoescape=False, undefined=StrictUndefined).from_string(source)


def airing_body(body: str, kind: str, channel: ChannelSettings, *, first_aired: str | None) -> str:
    """The text an airing sends: a repost goes through the channel's `repost.template`.

    The template sees `body` and `first_aired` (the local date of the first airing, or "").
    """
    template = channel.repost.template
    if kind != "repost" or not template:
        return body
    return str(_repost_template(template).render(body=body, first_aired=first_aired or ""))
