"""The one small interface every publisher implements (docs/design.md §7), and what flows
through it."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from ..measuring import Counts
from ..media import Medium
from ..text import UNSAFE
from ..timeutil import iso_utc

log = logging.getLogger("scheduler.publishers")


@dataclass(frozen=True)
class Delivery:
    """One airing to send, exactly as the dispatcher hands it over.

    `idempotency_key` is stored before the first request and stays the same on every retry,
    which is what lets a deduplicating publisher make a retry harmless.
    """

    airing_id: int
    channel: str
    post_id: int
    kind: str  # core | entertaining | repost | reply
    body: str  # already rendered (the repost template is applied by the caller)
    media: tuple[Medium, ...]  # the bytes kept at queue time; no publisher opens a path
    idempotency_key: str
    due: datetime  # aware UTC
    # A reply's target, as the listener stored it with the inbox item: Mastodon
    # {"status_id", "author"}, Bluesky {"uri", "cid", "root_uri", "root_cid"}.
    reply_to: Mapping[str, str] | None = None

    def as_json(self) -> dict[str, Any]:
        """The delivery as a JSON object: the line a file gets and the body a JSON webhook gets.

        Media are described (name, type, size, sha256), not carried: a line stays a line.
        """
        return {
            "airing_id": self.airing_id,
            "channel": self.channel,
            "post_id": self.post_id,
            "kind": self.kind,
            "due": iso_utc(self.due),
            "body": self.body,
            "media": [medium.info.as_json() for medium in self.media],
            "idempotency_key": self.idempotency_key,
        }


@dataclass(frozen=True)
class Receipt:
    """What the platform gave back: its id for the post and a URL a person can open.

    Both come from outside and end up in logs, terminals and ICS files, so they are checked
    here, at the boundary (docs/design.md §10): the URL is http(s) (or the file publisher's file://)
    and the id a short token, neither with spaces or control characters, or the value is
    dropped and a warning logged. The airing was published either way.
    """

    remote_id: str | None
    remote_url: str | None

    def __post_init__(self) -> None:
        if self.remote_url is not None and not _acceptable(self.remote_url, MAX_URL, _URL):
            log.warning(
                "dropped the post URL a platform answered (%.80r): not an http(s) URL of at "
                "most %s characters without spaces or control characters",
                self.remote_url,
                MAX_URL,
            )
            object.__setattr__(self, "remote_url", None)
        if self.remote_id is not None and not _acceptable(self.remote_id, MAX_ID, _ANY):
            log.warning(
                "dropped the post id a platform answered (%.80r): not a token of at most %s "
                "characters without spaces or control characters",
                self.remote_id,
                MAX_ID,
            )
            object.__setattr__(self, "remote_id", None)


MAX_URL = 2048
MAX_ID = 512
_URL = re.compile(r"^(https?|file)://\S", re.IGNORECASE)
_ANY = re.compile(r"^\S")


def _acceptable(value: object, limit: int, shape: re.Pattern[str]) -> bool:
    return (
        isinstance(value, str)
        and len(value) <= limit
        and shape.match(value) is not None
        and not any(char.isspace() for char in value)
        and not UNSAFE.search(value)
    )


class Publisher(Protocol):
    """Sends deliveries to one channel.

    `publish` raises `TransientPublishError` (worth retrying: connection refused, timeout
    before sending, 5xx, 429 with `retry_after`), `PermanentPublishError` (the platform
    refused the post, with its own message) or `InterruptedPublishError` (the request may
    have reached the platform). After an interruption the dispatcher may retry only where
    the channel's spec says the platform deduplicates (`ChannelSettings.deduplication`): a
    repeated request with the same idempotency key can't post twice there.

    `publish_async` is the same exchange on the daemon's event loop (the dispatcher sends
    only through it); both paths run the publisher's one set of steps (see `http.py`).
    """

    def publish(self, delivery: Delivery) -> Receipt: ...

    async def publish_async(self, delivery: Delivery) -> Receipt: ...

    async def connect_async(self) -> None:
        """Open the connection the next `publish_async` sends on, sending nothing (the
        dispatcher calls it while an airing claimed ahead waits for its time). Best effort:
        it never raises for a platform out of reach; the publish meets that itself."""
        ...

    def close(self) -> None:
        """Forget what the publisher holds (sessions); the HTTP client is the caller's."""
        ...

    async def close_async(self) -> None:
        """Close what the async path opened (its client's connections), on the event loop
        that opened them, when that loop ends."""
        ...


@runtime_checkable
class Verifiable(Protocol):
    """A publisher whose credentials one read-only call can prove (`scheduler check --online`).

    `verify` returns the account as the platform names it (`@brand`) and raises
    `PublishError` with the platform's answer, already redacted, when it refuses them.
    """

    def verify(self) -> str: ...


@runtime_checkable
class Readable(Protocol):
    """A publisher whose platform tells how its posts did (§11): Mastodon and Bluesky.

    `read_counts` takes the remote ids the publisher returned in its receipts and answers
    the counts of those it found; both raise `PublishError` as `publish` does.
    """

    def read_counts(self, remote_ids: Sequence[str]) -> dict[str, Counts]: ...

    def read_followers(self) -> int | None: ...
