"""The product's vocabulary: kinds, statuses and outcomes, the draft of a post, editor rules.

Everything else names these instead of spelling the strings. The enums are `StrEnum`s, so a
member is its value wherever a string is expected (SQL, JSON, comparisons with stored rows).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

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


# A post row is a named tuple, not a frozen dataclass: as immutable and typed, and made
# five times faster (a frozen dataclass sets each field through object.__setattr__); the
# views read one per post, 100,000 of them (`queue list`'s rows are alike: store/listings).


class PostRow(NamedTuple):
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


# What `queue list --status` accepts: every value `post_status` gives.
POST_STATUSES = ("queued", "published", "failed", "missed", "unconfirmed", "cancelled", "expired")


def post_status(
    *, cancelled: bool, expires: datetime | None, statuses: Collection[str], now: datetime
) -> str:
    """queued | published | failed | missed | unconfirmed | cancelled | expired: a post's
    status from its airings' `statuses`, as `queue list --status` filters it.

    A cancelled post that already aired says `published` (cancelling stopped only what
    had not aired), and `unconfirmed` while one of its airings may be on the platform.
    """
    if cancelled:
        if AiringStatus.unconfirmed in statuses:
            return "unconfirmed"
        return "published" if AiringStatus.published in statuses else "cancelled"
    for needing_editor in NEEDS_EDITOR:
        if needing_editor in statuses:
            return str(needing_editor)
    if AiringStatus.published in statuses:
        return "published"
    if expires is not None and expires <= now:
        return "expired"
    return "queued"


@dataclass(frozen=True, slots=True)
class ChannelWindow:
    """What a store needs of one channel's rules to read only the rows a window's plan
    needs (`Store.window_rows`)."""

    name: str
    fixed_until: datetime  # now + freeze: a planned airing before it keeps its place
    slots: int  # at least the number of the channel's slots in the window
    max_airings: int  # repost.max_airings


@dataclass(frozen=True)
class WindowRows:
    """The rows planning a window needs: every post and airing that can change its plan."""

    posts: list[PostRow]  # each with only the channels where it is needed
    airings: list[AiringRow]  # by (at, id)
    began: dict[str, datetime]  # per channel, the earliest created of its candidate posts


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
