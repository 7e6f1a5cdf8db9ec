"""What a webhook is: a URL (a secret for Slack and Discord, whose URL is the credential), a
format, an optional signing secret and `max_chars`; no media; deduplication only in our own
JSON format. The client is `publishers/webhook.py`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..config import (
    SECRET_HINT,
    Problems,
    SecretRef,
    one_of,
    read_positive_int,
    read_secret,
    read_url,
)
from ..text import graphemes
from .spec import Deduplication, LengthRule, Option, PlatformSpec

FORMATS = ("json", "slack", "discord")


def _read_url(value: Any, path: str, problems: Problems, base_dir: Path) -> str | SecretRef | None:
    """A webhook's URL: a secret reference (any format), or a plain URL (JSON only: the
    format is checked once the channel is read, in `_check`)."""
    if isinstance(value, Mapping):
        return read_secret(value, path, problems, base_dir, carries="header")
    return read_url(value, path, problems, base_dir)


def _check(options: Mapping[str, Any], path: str, problems: Problems) -> None:
    webhook_format = options.get("format")
    if webhook_format in ("slack", "discord") and isinstance(options.get("url"), str):
        # The URL is the credential: inline, anyone who can read the config could post.
        problems.add(
            f"{path}.url", f"a {webhook_format} webhook URL is a secret; give it as {SECRET_HINT}"
        )


def _length_rules(options: Mapping[str, Any], media: bool) -> tuple[LengthRule, ...]:
    max_chars = options.get("max_chars")
    return (LengthRule(max_chars, "characters", graphemes),) if max_chars else ()


SPEC = PlatformSpec(
    name="webhook",
    options=(
        Option("url", _read_url, required=True),
        Option("format", one_of(FORMATS), default="json"),
        Option("secret", secret="text"),
        Option("max_chars", read_positive_int),
    ),
    client="scheduler.publishers.webhook:WebhookPublisher",
    length_rules=_length_rules,
    no_media="webhooks don't carry media",
    # Our own receivers honour Idempotency-Key; Slack and Discord ignore it, so a request
    # interrupted mid-way must not be re-sent blindly there.
    deduplication=Deduplication(applies=lambda options: options.get("format") == "json"),
    check=_check,
)
