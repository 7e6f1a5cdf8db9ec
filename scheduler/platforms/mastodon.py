"""What Mastodon is: its options, its length rule (links count 23, as `text.mastodon_length`
counts), its media, its one-hour key memory, what the daemon reads from it, and how a reply
addresses its author. The client is `publishers/mastodon.py`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from ..config import Problems, one_of, read_positive_int, read_url
from ..media import MIB, MediaRule
from ..text import MASTODON_URL_LENGTH, mastodon_length
from .spec import Deduplication, LengthRule, Option, PlatformSpec, Read

LIMIT = 500  # characters, as `mastodon_length` counts them; a channel's `max_chars` replaces it
_HOW = f" (as Mastodon counts: a link counts {MASTODON_URL_LENGTH}, @user@server counts as @user)"
VISIBILITIES = ("public", "unlisted", "private", "direct")
# ISO 639-1 or -3, and the regional forms Mastodon's LanguagesHelper knows (Chinese).
_ISO_639 = re.compile(r"^([a-z]{2,3}|zh-(CN|HK|TW|YUE))$")
# Mastodon's defaults: 4 attachments a status, images up to 16 MiB (the `image_size_limit`
# that `GET /api/v2/instance` reports on mastodon.social; servers before 4.x said 10 MiB).
# The description (alt text) is at most 1,500 characters (`MediaAttachment`'s
# MAX_DESCRIPTION_LENGTH, counted as Ruby counts a string: code points).
MEDIA = MediaRule(max_files=4, max_bytes=16 * MIB, max_alt=1500)


def _read_iso639(value: Any, path: str, problems: Problems, base_dir: Path) -> str | None:
    """Mastodon `language`: an ISO 639 code. Mastodon doesn't refuse a wrong one, it silently
    files the post under the account's default language, so it is caught here instead."""
    if isinstance(value, str) and _ISO_639.match(value):
        return value
    problems.add(path, f"{value!r} is not an ISO 639 language code; use e.g. en, ar, de")
    return None


def _length_rules(options: Mapping[str, Any], media: bool) -> tuple[LengthRule, ...]:
    return (LengthRule(options.get("max_chars") or LIMIT, "characters", mastodon_length, _HOW),)


def addressed(text: str, author: str) -> str:
    """A reply's text starting with the author's handle, as Mastodon's own apps write it."""
    stripped = text.lstrip()
    if stripped.lower().startswith(author.lower()) and stripped[len(author) : len(author) + 1] in (
        "",
        " ",
        "\n",
    ):
        return text
    return f"{author} {text}"


SPEC = PlatformSpec(
    name="mastodon",
    options=(
        Option("base_url", read_url, required=True),
        Option("token", required=True, secret="header"),
        Option("max_chars", read_positive_int),
        Option("visibility", one_of(VISIBILITIES), default="public"),
        Option("language", _read_iso639),
    ),
    client="scheduler.publishers.mastodon:MastodonPublisher",
    length_rules=_length_rules,
    media=MEDIA,
    # Mastodon keeps an Idempotency-Key for an hour; five minutes less is a margin for
    # clocks that differ (the memory counts from the due time, before the first request).
    deduplication=Deduplication(memory=timedelta(minutes=55)),
    reads=frozenset({Read.notices, Read.counts, Read.followers}),
    reply_text=lambda text, target: addressed(text, target["author"]),
)
