"""What Telegram is: its options (the bot token travels in the request path), its limits in
UTF-16 code units (a caption's shorter), its one photo, and no deduplication at all. The
client is `publishers/telegram.py`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..config import Problems, read_url
from ..media import MediaRule
from ..text import utf16_units
from .spec import LengthRule, Option, PlatformSpec

# As the Bot API counts: UTF-16 code units (an emoji outside the Basic Multilingual Plane is
# two; a family emoji is eleven).
MESSAGE_UNITS = 4096
CAPTION_UNITS = 1024  # a photo's caption (`sendPhoto`)
# Bot API `sendPhoto`: one photo of at most 10 MB uploaded as multipart/form-data (a GIF is
# `sendAnimation`'s and is turned into a still by `sendPhoto`, so it is refused). A photo
# carries no alt text: what it shows belongs in the caption.
MEDIA = MediaRule(
    max_files=1, max_bytes=10_000_000, types=("image/jpeg", "image/png", "image/webp")
)


def _read_chat_id(value: Any, path: str, problems: Problems, base_dir: Path) -> str | None:
    if (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, str) and value.strip()
    ):
        return str(value)
    problems.add(path, f"{value!r} must be a chat id (a number) or @channelname")
    return None


def _length_rules(options: Mapping[str, Any], media: bool) -> tuple[LengthRule, ...]:
    units = "UTF-16 code units"
    if media:
        how = " (a photo's caption, as Telegram counts)"
        return (LengthRule(CAPTION_UNITS, units, utf16_units, how),)
    return (LengthRule(MESSAGE_UNITS, units, utf16_units, " (as Telegram counts)"),)


SPEC = PlatformSpec(
    name="telegram",
    options=(
        Option("base_url", read_url, default="https://api.telegram.org"),
        Option("bot_token", required=True, secret="path"),
        Option("chat_id", _read_chat_id, required=True),
    ),
    client="scheduler.publishers.telegram:TelegramPublisher",
    length_rules=_length_rules,
    media=MEDIA,
    deduplication=None,  # the Bot API takes no idempotency key
)
