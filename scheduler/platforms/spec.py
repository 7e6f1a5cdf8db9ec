"""The shape of a platform's spec: what the rest of the scheduler may know about a platform.

Each module beside this one exports one `PlatformSpec` (its options, their defaults and
readers, its length and media limits, how it deduplicates, what the daemon can read from
it, where its publisher is); `registry.py` lists them. `config.py` validates a channel
through its spec and hands it to the channel (`ChannelSettings.platform`), so `text.py`,
`media.py`, the dispatcher and the report read limits and key memory from the channel and
keep no table of platforms (docs/architecture.md, "Adding a platform").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ..media import MediaRule

if TYPE_CHECKING:
    from ..config import Problems

# Reads one option's value: the checked value, or None after adding the problem at `path`.
OptionReader = Callable[[Any, str, "Problems", Path], Any]


@dataclass(frozen=True)
class Option:
    """One key a channel of the platform accepts (`[channels.NAME]`, beside the rules)."""

    key: str
    read: OptionReader | None = None  # None: a non-empty string (or a secret, below)
    required: bool = False
    default: Any = None  # given to a channel that leaves the key out; None: no default
    # A secret is given as { env | file | credential }, never inline, and never shown. Where
    # it is sent bounds what it may hold: "text" (a body), "header" (a bearer token) or
    # "path" (Telegram's bot token, part of the request path); see `config.SecretRef`.
    secret: str | None = None


@dataclass(frozen=True)
class LengthRule:
    """One limit of one platform: at most `limit` of `unit`, as `measure` counts them."""

    limit: int
    unit: str  # what is counted, for the error message
    measure: Callable[[str], int]
    how: str = ""  # how the platform counts, where "characters" alone would mislead


def _always(options: Mapping[str, Any]) -> bool:
    return True


@dataclass(frozen=True)
class Deduplication:
    """How a platform recognises a repeated request for one airing (docs/design.md §5).

    `memory`: how long it remembers an idempotency key, counted from the airing's first due
    time; past it a re-send could post twice. None: for as long as the post exists (a
    record key, a line in a file). `applies`: whether a channel's options keep it (a
    webhook in Slack's format ignores the key).
    """

    memory: timedelta | None = None
    applies: Callable[[Mapping[str, Any]], bool] = _always


class Read(StrEnum):
    """What the daemon can read from a platform (docs/design.md §10, §11)."""

    notices = "notices"  # replies, mentions, quotes: the inbox
    counts = "counts"  # an airing's likes, shares, replies
    followers = "followers"


def _no_limits(options: Mapping[str, Any], media: bool) -> tuple[LengthRule, ...]:
    return ()


def _no_check(options: Mapping[str, Any], path: str, problems: Problems) -> None:
    return None


def _as_written(text: str, target: Mapping[str, str]) -> str:
    return text


@dataclass(frozen=True)
class PlatformSpec:
    """Everything the rest of the scheduler knows about one platform.

    `length_rules(options, media)`: the queue-time limits of a channel's body (`media`: the
    post carries media, which on Telegram makes the body a caption). `media`: what it takes,
    or None with `no_media` saying why not. `check(options, path, problems)`: rules between
    options, run once each option was read. `client`: where its publisher is,
    "module:Class", a class whose `from_channel(channel, http_client, now=...)` builds it
    (`publishers/registry.py` imports it only then: a command that only reads the config
    never imports the HTTP stack).
    `deduplication`: None where the platform can't recognise a repeat (Telegram).
    `reply_text(text, target)`: an inbox reply's text as the platform's own apps write it,
    given the item's stored reply target (Mastodon starts it with the author's @handle).
    """

    name: str
    options: tuple[Option, ...]
    client: str
    length_rules: Callable[[Mapping[str, Any], bool], tuple[LengthRule, ...]] = _no_limits
    media: MediaRule | None = None
    no_media: str = ""
    deduplication: Deduplication | None = None
    reads: frozenset[Read] = frozenset()
    check: Callable[[Mapping[str, Any], str, Problems], None] = _no_check
    reply_text: Callable[[str, Mapping[str, str]], str] = _as_written
    defaults: Mapping[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        defaults = {o.key: o.default for o in self.options if o.default is not None}
        object.__setattr__(self, "defaults", defaults)

    def deduplicates(self, options: Mapping[str, Any]) -> Deduplication | None:
        """How a channel with these options deduplicates, or None when it can't."""
        kept = self.deduplication
        return kept if kept is not None and kept.applies(options) else None


def platform_registry(*specs: PlatformSpec) -> Mapping[str, PlatformSpec]:
    """Name -> spec, in the order given (the order `check` lists accepted publishers in)."""
    registry: dict[str, PlatformSpec] = {}
    for spec in specs:
        if spec.name in registry:
            raise ValueError(f"two platforms are named {spec.name!r}")
        registry[spec.name] = spec
    return MappingProxyType(registry)
