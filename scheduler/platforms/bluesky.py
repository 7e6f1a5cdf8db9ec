"""What Bluesky is: its options, its two length rules (graphemes and UTF-8 bytes), its
images, its record keys that never expire, and what the daemon reads from it. The client is
`publishers/bluesky.py`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..config import Problems, read_string, read_url
from ..media import MediaRule
from ..text import graphemes, utf8_bytes
from .spec import Deduplication, LengthRule, Option, PlatformSpec, Read

# The `app.bsky.feed.post` lexicon's `maxGraphemes` and `maxLength` (UTF-8 bytes): Arabic
# letters take two bytes and emoji four or more, so 300 graphemes can be 7,000 bytes.
GRAPHEMES = 300
BYTES = 3000
# The `app.bsky.embed.images` lexicon: at most 4 images, each a blob of `image/*` of at most
# 1,000,000 bytes (`maxSize`, decimal). The lexicon sets no limit on `alt`; 2,000 graphemes
# is the Bluesky app's own (`MAX_ALT_TEXT`), kept so a post reads the same in every client.
MEDIA = MediaRule(max_files=4, max_bytes=1_000_000, max_alt=2000, alt_unit="graphemes")
# RFC 5646 §2.1 well-formed tags with a lower-case primary subtag (atproto's strict form);
# grandfathered tags such as `i-klingon` are left out on purpose.
_BCP47 = re.compile(
    r"^[a-z]{2,3}(-[A-Za-z]{3}){0,3}(-[A-Za-z]{4})?(-([A-Za-z]{2}|[0-9]{3}))?"
    r"(-([A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*(-[0-9A-WY-Za-wy-z](-[A-Za-z0-9]{2,8})+)*"
    r"(-[xX](-[A-Za-z0-9]{1,8})+)?$"
)


def _read_bcp47(value: Any, path: str, problems: Problems, base_dir: Path) -> str | None:
    """Bluesky `langs`: a BCP 47 tag; a PDS refuses the whole record for a malformed one."""
    if isinstance(value, str) and _BCP47.match(value):
        return value
    problems.add(path, f"{value!r} is not a BCP 47 language tag; use e.g. en, ar, pt-BR")
    return None


def _length_rules(options: Mapping[str, Any], media: bool) -> tuple[LengthRule, ...]:
    return (
        LengthRule(GRAPHEMES, "graphemes", graphemes),
        LengthRule(BYTES, "bytes", utf8_bytes, " in UTF-8"),
    )


SPEC = PlatformSpec(
    name="bluesky",
    options=(
        Option("service", read_url, default="https://bsky.social"),
        Option("handle", read_string, required=True),
        Option("app_password", required=True, secret="text"),
        Option("language", _read_bcp47),
    ),
    client="scheduler.publishers.bluesky:BlueskyPublisher",
    length_rules=_length_rules,
    media=MEDIA,
    deduplication=Deduplication(),  # the record key is the airing's for good (`record_key`)
    reads=frozenset({Read.notices, Read.counts, Read.followers}),
)
