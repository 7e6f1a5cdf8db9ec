"""The product's vocabulary: kinds, statuses and outcomes, the draft of a post, editor rules.

Everything else names these instead of spelling the strings. The enums are `StrEnum`s, so a
member is its value wherever a string is expected (SQL, JSON, comparisons with stored rows).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from .media import Medium


class PostKind(StrEnum):
    """What an editor queues (docs/design.md §2)."""

    core = "core"
    entertaining = "entertaining"


class AiringKind(StrEnum):
    """What goes out: a post's first airing has its kind, later ones are reposts."""

    core = "core"
    entertaining = "entertaining"
    repost = "repost"
    reply = "reply"  # an answer to an inbox item (§10): conversation, never planned


class AiringStatus(StrEnum):
    planned = "planned"
    publishing = "publishing"
    published = "published"
    failed = "failed"
    missed = "missed"
    unconfirmed = "unconfirmed"
    cancelled = "cancelled"


class AttemptOutcome(StrEnum):
    """How one try at publishing ended, as the `attempt` row records it."""

    sending = "sending"  # a request is about to leave (platforms that can't deduplicate)
    published = "published"
    failed = "failed"
    interrupted = "interrupted"  # its process died or it may have reached the platform
    cancelled = "cancelled"
    released = "released"  # handed back unsent, at shutdown


class InboxKind(StrEnum):
    """What an inbox item is to one of our posts (§10)."""

    reply = "reply"
    mention = "mention"
    quote = "quote"


class InboxStatus(StrEnum):
    open = "open"
    answered = "answered"
    done = "done"


# The plain strings, in the tie order the planner and the audit both use.
POST_KINDS: tuple[str, ...] = tuple(kind.value for kind in PostKind)
# The kinds the mix, the planner and the audit count; replies are not broadcast.
AIRING_KINDS: tuple[str, ...] = tuple(kind.value for kind in AiringKind if kind != AiringKind.reply)

# Statuses an editor must act on (`queue retry`); the planner leaves such a post alone.
NEEDS_EDITOR = (AiringStatus.failed, AiringStatus.missed, AiringStatus.unconfirmed)
# Airings that really are (or will be) on air; a cancelled or failed one takes no time slot.
LIVE_STATUSES = (AiringStatus.planned, AiringStatus.publishing, AiringStatus.published)
ON_AIR = (AiringStatus.publishing, AiringStatus.published)


@dataclass(frozen=True)
class PostDraft:
    """A post as an editor asks for it, already validated against the config."""

    body: str
    kind: str
    channels: tuple[str, ...]
    editor: str
    at: datetime | None = None
    expires: datetime | None = None
    evergreen: bool = True
    media: tuple[Medium, ...] = ()  # read and checked at queue time, kept with the post
    score: float | None = None
    tags: tuple[str, ...] = ()  # `queue add --tag`: what `report --compare` sets side by side
    source: str = ""  # "row 3" for an import, so a refusal names the row


@dataclass(frozen=True, slots=True)
class PostRow:
    """A post as planning sees it (no body: 100,000 of them fit in a few tens of MB)."""

    id: int
    kind: str
    created: datetime
    expires: datetime | None
    evergreen: bool
    pinned: bool
    score: float | None
    cancelled: bool
    channels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AiringRow:
    """A stored airing as planning and status see it."""

    id: int
    post_id: int
    channel: str
    kind: str
    pinned: bool
    at: datetime
    status: str
    remote_url: str | None
    error: str | None
    keyed: bool  # has an idempotency key: it was claimed once and may be on the platform


def may_be_out(status: str, *, keyed: bool) -> bool:
    """Published, or possibly on the platform already: the airing's identity must not change
    (an edit can't move it or change its kind or channels)."""
    if status in (AiringStatus.published, AiringStatus.unconfirmed):
        return True
    return status == AiringStatus.planned and keyed


def retry_keeps(*, pinned: bool, kind: str, keyed: bool) -> bool:
    """`queue retry` puts this airing back as itself (same row, key, body and due time) rather
    than removing it for the planner: pinned, a repost, or claimed once (it may be out)."""
    return pinned or kind == AiringKind.repost or keyed


@dataclass(frozen=True, slots=True)
class Notice:
    """One reply, mention or quote, as a platform described it."""

    platform_id: str  # the answering post's id on the platform (unique per channel)
    kind: str  # reply | mention | quote
    author: str  # @handle (Mastodon: @user@instance)
    text: str  # plain text
    at: datetime  # aware UTC
    url: str | None
    answers: str | None  # the platform id of the post it replies to or quotes
    target: Mapping[str, str]  # what a reply to it needs (see `Delivery.reply_to`)


@dataclass(frozen=True, slots=True)
class NoticePage:
    """One page of notices, and the cursor to store with it (None: keep the stored one)."""

    notices: tuple[Notice, ...]
    cursor: str | None
